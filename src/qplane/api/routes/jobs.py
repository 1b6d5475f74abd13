"""Jobs, results and backends: what tenants use every day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import (
    BackendOut,
    JobLogOut,
    JobOut,
    JobPage,
    JobSubmit,
    ResultOut,
    Strict,
)
from qplane.bootstrap import Platform
from qplane.broker.jobs import SubmitRequest
from qplane.domain.jobs import Job, JobState, SourceFormat
from qplane.policy.actions import Action

router = APIRouter(prefix="/v1")


def _out(job: Job, qp: Platform) -> JobOut:
    """The job as a tenant sees it, its state-change times coarsened (side channels)."""
    return JobOut.of(job, qp.settings.tenant_time_granularity_s)


@router.get("/backends", tags=["backends"])
def list_backends(actor: ActorDep, qp: PlatformDep) -> list[BackendOut]:
    qp.authorizer.on_platform(actor, Action.BACKEND_LIST)
    return [BackendOut.of(info) for info in qp.catalogue.infos()]


@router.post("/jobs", status_code=status.HTTP_201_CREATED, tags=["jobs"])
def submit_job(body: JobSubmit, actor: ActorDep, qp: PlatformDep) -> JobOut:
    """Submit a circuit. A refused job is still recorded, as rejected; the error names the limit."""
    request = SubmitRequest(
        project_id=body.project_id,
        source=body.source,
        source_format=body.format,
        backend=body.backend,
        shots=body.shots,
        tags=tuple(body.tags),
        seed=body.seed,
        classification=body.classification,
        priority=body.priority,
        time_limit_s=body.time_limit_s,
    )
    return _out(qp.jobs.submit(actor, request), qp)


@router.get("/jobs/{job_id}", tags=["jobs"])
def get_job(job_id: str, actor: ActorDep, qp: PlatformDep) -> JobOut:
    return _out(qp.jobs.get(actor, job_id), qp)


@router.get("/projects/{project_id}/jobs", tags=["jobs"])
def list_jobs(
    project_id: str,
    actor: ActorDep,
    qp: PlatformDep,
    state: Annotated[list[JobState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    page = qp.jobs.page(actor, project_id, frozenset(state) if state else None, limit, cursor)
    return JobPage(items=[_out(j, qp) for j in page.items], next_cursor=page.next_cursor)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(job_id: str, actor: ActorDep, qp: PlatformDep) -> JobOut:
    return _out(qp.jobs.cancel(actor, job_id), qp)


@router.get("/jobs/{job_id}/result", tags=["jobs"])
def get_result(job_id: str, actor: ActorDep, qp: PlatformDep) -> ResultOut:
    job, result = qp.jobs.result(actor, job_id)
    return ResultOut(
        job_id=job.id,
        backend=result.backend,
        shots=result.shots,
        seed=result.seed,
        counts=result.counts,
        execution_time_s=result.execution_time_s,
        metadata=dict(result.metadata),
    )


class CircuitOut(BaseModel):
    job_id: str
    format: SourceFormat
    source: str


@router.get("/jobs/{job_id}/circuit", tags=["jobs"])
def get_circuit(job_id: str, actor: ActorDep, qp: PlatformDep) -> CircuitOut:
    """The job's circuit source: authorised on its own, apart from the job and its result."""
    job, source = qp.jobs.circuit(actor, job_id)
    return CircuitOut(job_id=job.id, format=job.source_format, source=source)


@router.get("/jobs/{job_id}/log", tags=["jobs"])
def get_log(job_id: str, actor: ActorDep, qp: PlatformDep) -> JobLogOut:
    """The job's execution log: authorised on its own, apart from its circuit and result."""
    job, text = qp.jobs.log(actor, job_id)
    return JobLogOut(job_id=job.id, log=text)


class ArchiveRequest(Strict):
    recipient_public_key: str = Field(
        max_length=16 * 1024,
        description="The recipient's hybrid KEM public key (QPLANE HYBRID KEM PUBLIC KEY PEM), "
        "as `qplane archive keygen` writes it.",
    )


@router.post(
    "/jobs/{job_id}/archive",
    tags=["jobs"],
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The archive file (format: docs/cryptography.md, "
            '"Archives and attestations").',
        }
    },
)
def archive_job(job_id: str, body: ArchiveRequest, actor: ActorDep, qp: PlatformDep) -> Response:
    """A verified job's metadata, circuit, result and log, attested by the platform and sealed
    to the recipient's hybrid post-quantum key. Needs read access to all three artifacts."""
    blob = qp.archives.export(actor, job_id, body.recipient_public_key)
    return Response(
        blob,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.qparchive"'},
    )
