"""The tenant-facing job use cases: submit, read, list, cancel, fetch the result."""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Final

from qplane.audit.correlation import Correlator
from qplane.backends.base import RunResult
from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.auditing import audit
from qplane.broker.lifecycle import move
from qplane.broker.scheduler import quota_scopes
from qplane.broker.signal import WorkSignal
from qplane.broker.validation import validate_submission
from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain import ids, quotas, regions
from qplane.domain.audit import Outcome
from qplane.domain.backends import BackendKind
from qplane.domain.clock import utcnow
from qplane.domain.errors import (
    Conflict,
    NotFound,
    QuotaExceeded,
    ResidencyViolation,
    ValidationFailed,
)
from qplane.domain.jobs import (
    CANCELLABLE,
    DEFAULT_PRIORITY,
    DEFAULT_TIME_LIMIT_S,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Classification,
    Job,
    JobState,
    SourceFormat,
    Transition,
)
from qplane.domain.ports import Page, UnitOfWork, UnitOfWorkFactory
from qplane.domain.quotas import Demand
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import ArtifactKind

CIRCUIT: Final = "circuit"
RESULT: Final = "result"
LOG: Final = "log"
_TAG: Final = re.compile(r"^[A-Za-z0-9_.:=-]{1,64}$")
_MAX_TAGS: Final = 16
_HAS_RESULT: Final = frozenset({JobState.SUCCEEDED, JobState.VERIFIED})


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    project_id: str
    source: str
    source_format: SourceFormat
    backend: str
    shots: int
    tags: tuple[str, ...] = ()
    seed: int | None = None
    classification: Classification = Classification.INTERNAL
    #: Orders the tenant's own jobs on a device (higher first); never other tenants'.
    priority: int = DEFAULT_PRIORITY
    #: Wall-clock limit of the run; None: the platform's default.
    time_limit_s: int | None = None


class JobService:
    """Job use cases for tenant principals. Every read is scoped to the actor's tenant."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        catalogue: BackendCatalogue,
        keys: KeyHierarchy,
        max_payload_bytes: int,
        signal: WorkSignal | None = None,
        validation_slots: int = 2,
        *,
        authorizer: Authorizer | None = None,
        time_limits: tuple[int, int] = (DEFAULT_TIME_LIMIT_S, DEFAULT_TIME_LIMIT_S * 6),
    ) -> None:
        self._default_time_limit, self._max_time_limit = time_limits
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._catalogue = catalogue
        self._keys = keys
        self._correlate = Correlator(keys)
        self._max_payload = max_payload_bytes
        self._signal = signal or WorkSignal()
        # Parsing is CPU-bound and holds the GIL: bound how many requests do it
        # at once, so a burst of large circuits cannot starve the rest of the API.
        self._validating = threading.BoundedSemaphore(validation_slots)

    def submit(self, actor: Actor, request: SubmitRequest) -> Job:
        """Record a job and validate it; an invalid job is kept as *rejected*, then refused.

        Raises the validation error (with the rejected job's id attached) after
        the rejection has been committed, so nothing a tenant sent is lost.
        """
        tenant_id = _tenant_of(actor)
        _check_tags(request.tags)
        job = self._new_job(actor, tenant_id, request)
        failure: ValidationFailed | None = None
        try:
            info = self._catalogue.get(request.backend).info
            with self._validating:
                _, summary = validate_submission(
                    request.source, request.source_format, request.shots, info, self._max_payload
                )
            job = replace(
                job,
                qubits=summary.qubits,
                depth=summary.depth,
                region=info.region,
                estimated_s=info.estimate_seconds(request.shots, summary.depth),
            )
        except ValidationFailed as exc:
            failure = exc
        if failure is None:
            self._admit(actor, job, info.kind)
        with self._uow() as uow:
            in_project = facts.project(uow, tenant_id, request.project_id)
            # Decided on the job as it would be stored (qubits known once parsed),
            # before anything is recorded: a refused caller leaves no trace but audit.
            self._authz.authorize(
                uow,
                actor,
                Action.JOB_SUBMIT,
                facts.job(self._catalogue, job, in_project),
                missing="project not found",
            )
            uow.jobs.add(job)
            audit(
                uow,
                actor,
                "job.submitted",
                tenant_id=tenant_id,
                target=job.id,
                detail=f"backend={job.backend} shots={job.shots}",
                job_id=job.id,
                backend=job.backend,
                # Parameters are bound in the circuit text (unbound ones are refused),
                # so the circuit's digest covers them.
                correlations=self._correlate.digests(
                    uow, tenant_id, [(CIRCUIT, request.source.encode())]
                ),
            )
            if failure is not None:
                move(uow, job, JobState.REJECTED, actor, failure.detail)
                uow.commit()
                failure.extensions["job_id"] = job.id
                raise failure
            job = move(uow, job, JobState.VALIDATED, actor)
            sealed = self._keys.seal(
                uow, request.source.encode(), _binding(job, CIRCUIT), project_id=job.project_id
            )
            uow.artifacts.put(tenant_id, job.id, CIRCUIT, sealed)
            job = move(uow, job, JobState.QUEUED, actor)
            uow.commit()
        self._signal.bump()
        return job

    def _admit(self, actor: Actor, job: Job, kind: BackendKind) -> None:
        """Residency and quotas, before anything is recorded: a refusal leaves only its audit.

        Raises `ResidencyViolation` when the job's backend lies outside the
        tenant's or project's regions, and `QuotaExceeded` (with the limit,
        what is used and when it resets) when the job would break a quota.
        """
        now = utcnow()
        refusal: ResidencyViolation | QuotaExceeded | None = None
        with self._uow() as uow:
            tenant = uow.tenants.get(job.tenant_id)
            try:
                project = uow.projects.get(job.tenant_id, job.project_id)
            except NotFound:
                return  # decided (and refused, as "project not found") by the authoriser
            try:
                regions.check_route(
                    job.region,
                    tenant_allowed=tenant.allowed_regions,
                    project_allowed=project.allowed_regions,
                    backend=job.backend,
                )
                demand = Demand(kind=kind, shots=job.shots, seconds=job.estimated_s or 0.0)
                kinds = self._catalogue.names_by_kind()
                for quota in quota_scopes(uow, job):
                    usage = uow.usage.usage(job.tenant_id, quota.project_id, now, kinds)
                    quotas.check(quota, usage, demand, now)
                return
            except (ResidencyViolation, QuotaExceeded) as exc:
                refusal = exc
            audit(
                uow,
                actor,
                "job.refused",
                tenant_id=job.tenant_id,
                target=job.project_id,
                outcome=Outcome.DENIED,
                detail=f"{refusal.slug}: {refusal.detail}",
                backend=job.backend,
            )
            uow.commit()
        raise refusal

    def get(self, actor: Actor, job_id: str) -> Job:
        with self._uow() as uow:
            job = uow.jobs.get(_tenant_of(actor), job_id)
            self._decide(uow, actor, Action.JOB_READ, job)
        return job

    def page(
        self,
        actor: Actor,
        project_id: str,
        states: frozenset[JobState] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Job]:
        tenant_id = _tenant_of(actor)
        with self._uow() as uow:
            in_project = facts.project(uow, tenant_id, project_id)
            self._authz.authorize(
                uow, actor, Action.JOB_LIST, in_project, missing="project not found"
            )
            return uow.jobs.page(tenant_id, project_id, states, limit, cursor)

    def cancel(self, actor: Actor, job_id: str) -> Job:
        """Cancel a job that has not finished; a running job is stopped at its next heartbeat."""
        with self._uow() as uow:
            job = uow.jobs.get_for_update(_tenant_of(actor), job_id)
            self._decide(uow, actor, Action.JOB_CANCEL, job)
            if job.state not in CANCELLABLE:
                raise Conflict(f"job is already {job.state.value}", state=job.state.value)
            job = move(uow, job, JobState.CANCELLED, actor, "cancelled by request")
            uow.commit()
        self._signal.bump()  # a running slot may have freed up
        return job

    def result(self, actor: Actor, job_id: str) -> tuple[Job, RunResult]:
        """Decrypt a finished job's result; plaintext exists only in this call's memory."""
        with self._uow() as uow:
            job = uow.jobs.get(_tenant_of(actor), job_id)
            self._decide(uow, actor, Action.ARTIFACT_READ, job, ArtifactKind.RESULT)
            if job.state not in _HAS_RESULT:
                raise Conflict(f"job has no result: it is {job.state.value}", state=job.state.value)
            sealed = uow.artifacts.get(job.tenant_id, job.id, RESULT)
            plaintext = self._keys.open(uow, sealed, _binding(job, RESULT))
        return job, RunResult.from_json(plaintext.decode())

    def circuit(self, actor: Actor, job_id: str) -> tuple[Job, str]:
        """Decrypt a job's circuit source: an artifact of its own, authorised apart from results.

        Reading results never implies reading the circuit (the tenant's IP):
        a policy can allow one kind of artifact and forbid the other.
        """
        with self._uow() as uow:
            job = uow.jobs.get(_tenant_of(actor), job_id)
            self._decide(uow, actor, Action.ARTIFACT_READ, job, ArtifactKind.CIRCUIT)
            if job.state is JobState.REJECTED:
                raise Conflict("a rejected job keeps no circuit", state=job.state.value)
            sealed = uow.artifacts.get(job.tenant_id, job.id, CIRCUIT)
            plaintext = self._keys.open(uow, sealed, _binding(job, CIRCUIT))
        return job, plaintext.decode()

    def log(self, actor: Actor, job_id: str) -> tuple[Job, str]:
        """Decrypt a job's execution log: a third artifact, authorised apart from the other two.

        The log says what happened during the run (lease, timings, failure
        reason) so that operators' and consultants' access can be granted
        without the circuit or the result.
        """
        with self._uow() as uow:
            job = uow.jobs.get(_tenant_of(actor), job_id)
            self._decide(uow, actor, Action.ARTIFACT_READ, job, ArtifactKind.LOG)
            try:
                sealed = uow.artifacts.get(job.tenant_id, job.id, LOG)
            except NotFound:
                raise Conflict(
                    f"job has no execution log: it is {job.state.value}", state=job.state.value
                ) from None
            plaintext = self._keys.open(uow, sealed, _binding(job, LOG))
        return job, plaintext.decode()

    def _decide(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        job: Job,
        artifact: ArtifactKind | None = None,
    ) -> None:
        """Authorise *action* on *job* (or one of its artifacts); hidden as "job not found"."""
        of_job = facts.job_in(uow, self._catalogue, job)
        resource = of_job if artifact is None else facts.artifact(of_job, artifact)
        self._authz.authorize(uow, actor, action, resource, missing="job not found")

    def _new_job(self, actor: Actor, tenant_id: str, request: SubmitRequest) -> Job:
        now = utcnow()
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        if not 0 <= seed < 2**31:
            raise ValidationFailed("seed must be between 0 and 2147483647", field="seed")
        if not MIN_PRIORITY <= request.priority <= MAX_PRIORITY:
            raise ValidationFailed(
                f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}", field="priority"
            )
        limit = self._default_time_limit if request.time_limit_s is None else request.time_limit_s
        if not 1 <= limit <= self._max_time_limit:
            raise ValidationFailed(
                f"time_limit_s must be between 1 and {self._max_time_limit}",
                field="time_limit_s",
                allowed=[1, self._max_time_limit],
            )
        return Job(
            id=ids.new_id(ids.JOB),
            tenant_id=tenant_id,
            project_id=request.project_id,
            owner_id=actor.principal_id,
            backend=request.backend,
            shots=request.shots,
            source_format=request.source_format,
            state=JobState.SUBMITTED,
            tags=tuple(request.tags),
            created_at=now,
            updated_at=now,
            seed=seed,
            history=(Transition(JobState.SUBMITTED, now),),
            classification=request.classification,
            priority=request.priority,
            time_limit_s=limit,
        )


def binding_for(job: Job, kind: str) -> ArtifactBinding:
    """The associated data an artifact of *job* is sealed under."""
    return ArtifactBinding(job.tenant_id, job.project_id, job.id, kind)


_binding = binding_for


def _tenant_of(actor: Actor) -> str:
    if actor.tenant_id is None:  # operators never reach tenant jobs (policy), belt and braces
        raise NotFound("job not found")
    return actor.tenant_id


def _check_tags(tags: tuple[str, ...]) -> None:
    if len(tags) > _MAX_TAGS:
        raise ValidationFailed(f"at most {_MAX_TAGS} tags are allowed", field="tags")
    for tag in tags:
        if not _TAG.match(tag):
            raise ValidationFailed(
                "tags are 1-64 characters of letters, digits and _.:=-", field="tags"
            )
