"""The internal API the execution plane talks to: worker token, lease, heartbeat, report.

A worker never sees more than the one job it leased.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Final

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from qplane.api.deps import PlatformDep, WorkerDep
from qplane.api.schemas import (
    FailureReport,
    HeartbeatOut,
    LeaseOut,
    LeaseRequest,
    ResultReport,
    TokenResponse,
    WorkerTokenRequest,
)
from qplane.bootstrap import INTERNAL_TOKEN_PATH, Platform
from qplane.broker.dispatch import LeaseGrant
from qplane.domain.workers import WorkerRecord

router = APIRouter(tags=["internal"])
_RECHECK_S: Final = 1.0
_WATCH_S: Final = 0.01


async def _lease_within(
    qp: Platform, worker: WorkerRecord, backends: list[str], max_jobs: int, wait_s: float
) -> list[LeaseGrant]:
    """Try to lease now; while none is due, wait for the work signal (or a second) and retry.

    The wait costs no database round trips: the loop only watches an
    in-memory counter between attempts.
    """
    deadline = time.monotonic() + wait_s
    while True:
        seen = qp.dispatch.signal.generation
        grants = await run_in_threadpool(qp.dispatch.lease_batch, worker, backends, max_jobs)
        now = time.monotonic()
        if grants or now >= deadline:
            return grants
        recheck = min(deadline, now + _RECHECK_S)
        while qp.dispatch.signal.generation == seen and time.monotonic() < recheck:
            await asyncio.sleep(_WATCH_S)


@router.post(INTERNAL_TOKEN_PATH)
def worker_token(body: WorkerTokenRequest, qp: PlatformDep) -> TokenResponse:
    token, claims = qp.workers.exchange(body.worker_id, body.assertion)
    return TokenResponse(access_token=token, expires_in=claims.exp - claims.iat)


@router.post("/internal/v1/leases", response_model=None)
async def lease(
    body: LeaseRequest,
    worker: WorkerDep,
    qp: PlatformDep,
    wait: Annotated[float, Query(ge=0, le=30, description="Long-poll up to this many s")] = 0,
) -> LeaseOut | Response:
    """Lease the next job, waiting up to *wait* seconds for one (204 when none came)."""
    grants = await _lease_within(qp, worker, body.backends, body.max_jobs, wait)
    if not grants:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    first, *more = (_lease_out(grant) for grant in grants)
    return first.model_copy(update={"batch": more})


def _lease_out(grant: LeaseGrant) -> LeaseOut:
    job = grant.job
    calibration = grant.calibration
    return LeaseOut(
        lease_id=grant.lease.id,
        job_id=job.id,
        expires_at=grant.lease.expires_at,
        backend=job.backend,
        shots=job.shots,
        seed=job.seed or 0,
        format=job.source_format,
        source=grant.source,
        time_limit_s=job.time_limit_s,
        calibration=None if calibration is None else calibration.data,
        calibration_id=None if calibration is None else calibration.id,
    )


@router.post("/internal/v1/leases/{lease_id}/start", status_code=status.HTTP_204_NO_CONTENT)
def start(lease_id: str, worker: WorkerDep, qp: PlatformDep) -> None:
    qp.dispatch.start(worker, lease_id)


@router.post("/internal/v1/leases/{lease_id}/heartbeat")
def heartbeat(lease_id: str, worker: WorkerDep, qp: PlatformDep) -> HeartbeatOut:
    status_ = qp.dispatch.heartbeat(worker, lease_id)
    return HeartbeatOut(keep_running=status_.keep_running, expires_at=status_.expires_at_iso)


@router.post("/internal/v1/leases/{lease_id}/result", status_code=status.HTTP_204_NO_CONTENT)
def report_result(lease_id: str, body: ResultReport, worker: WorkerDep, qp: PlatformDep) -> None:
    qp.dispatch.complete(worker, lease_id, body.result.encode(), body.signature, log=body.log)


@router.post("/internal/v1/leases/{lease_id}/failure", status_code=status.HTTP_204_NO_CONTENT)
def report_failure(lease_id: str, body: FailureReport, worker: WorkerDep, qp: PlatformDep) -> None:
    qp.dispatch.fail(worker, lease_id, body.reason, log=body.log)
