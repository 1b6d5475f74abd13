"""The execution plane's side of the lifecycle: lease, start, heartbeat, report.

Workers reach these use cases only through the internal API, authenticated
by their own key. A worker receives exactly one job's circuit per lease and
nothing else: no key, no policy, no other tenant, no database. Results come
back signed by the worker's key and are checked before the job counts as
verified. A lease that is not renewed expires and the job is queued again;
a report on a lease that has expired or been replaced is refused, so a job
completes exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from qplane.audit.correlation import Correlator
from qplane.backends.base import RunResult
from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.jobs import CIRCUIT, LOG, RESULT, binding_for
from qplane.broker.lifecycle import move
from qplane.broker.scheduler import pick_next
from qplane.broker.signal import WorkSignal
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain import ids
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import (
    Conflict,
    NotFound,
    QplaneError,
    Unauthenticated,
    ValidationFailed,
)
from qplane.domain.jobs import ACTIVE, MAX_EXECUTION_LOG_BYTES, Job, JobState
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.workers import JobLease, WorkerRecord
from qplane.identity.workload import verify_result_signature
from qplane.policy.actions import Action
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import WorkerFacts

_MAX_REASON: Final = 500


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """What a worker gets for one job: the circuit, and nothing more."""

    lease: JobLease
    job: Job
    source: str


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    keep_running: bool
    expires_at_iso: str


class DispatchService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keys: KeyHierarchy,
        lease_ttl_s: float,
        signal: WorkSignal | None = None,
        *,
        authorizer: Authorizer | None = None,
        catalogue: BackendCatalogue | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._catalogue = catalogue
        self._keys = keys
        self._correlate = Correlator(keys)
        self._ttl = timedelta(seconds=lease_ttl_s)
        self.signal = signal or WorkSignal()

    def lease(self, worker: WorkerRecord, backends: Sequence[str]) -> LeaseGrant | None:
        """Schedule the next job on a backend this worker serves, or return None."""
        served = (
            [name for name in backends if name in worker.backends]
            if backends
            else list(worker.backends)
        )
        with self._uow() as uow:
            if uow.workers.get(worker.id).disabled:
                # Revoked while this request waited for work (long poll): no new lease.
                raise Unauthenticated("worker authentication failed")
            job = pick_next(uow, served)
            if job is None:
                return None
            self._decide(uow, worker, Action.JOB_LEASE, job)
            now = utcnow()
            lease = JobLease(
                ids.new_id(ids.LEASE), job.id, job.tenant_id, worker.id, now, now + self._ttl
            )
            job = move(uow, job, JobState.SCHEDULED, worker.id, f"leased by {worker.name}")
            uow.leases.add(lease)
            sealed = uow.artifacts.get(job.tenant_id, job.id, CIRCUIT)
            source = self._keys.open(uow, sealed, binding_for(job, CIRCUIT))
            uow.commit()
        return LeaseGrant(lease, job, source.decode())

    def start(self, worker: WorkerRecord, lease_id: str) -> Job:
        with self._uow() as uow:
            _, job = self._held(uow, worker, lease_id)
            if job.state is not JobState.SCHEDULED:
                raise Conflict(f"job is {job.state.value}, not scheduled", state=job.state.value)
            job = move(uow, job, JobState.RUNNING, worker.id)
            uow.commit()
        return job

    def heartbeat(self, worker: WorkerRecord, lease_id: str) -> LeaseStatus:
        """Renew a lease; tells the worker to stop when the job was cancelled meanwhile."""
        with self._uow() as uow:
            lease, job = self._held(uow, worker, lease_id)
            if job.state not in ACTIVE:
                uow.leases.delete(lease.id)
                uow.commit()
                return LeaseStatus(False, as_utc(lease.expires_at).isoformat())
            expires = utcnow() + self._ttl
            uow.leases.renew(lease.id, expires)
            uow.commit()
        return LeaseStatus(True, expires.isoformat())

    def complete(
        self,
        worker: WorkerRecord,
        lease_id: str,
        result_json: bytes,
        signature: str,
        *,
        log: str | None = None,
    ) -> Job:
        """Accept a signed result (and the run's log): store them encrypted, verify, finish."""
        with self._uow() as uow:
            lease, job = self._held(uow, worker, lease_id)
            if job.state is not JobState.RUNNING:
                raise Conflict(f"job is {job.state.value}, not running", state=job.state.value)
            verify_result_signature(signature, worker.public_jwk, job.id, lease.id, result_json)
            reported = self._correlate.digests(uow, job.tenant_id, [(RESULT, result_json)])
            job = move(uow, job, JobState.SUCCEEDED, worker.id, correlations=reported)
            sealed = self._keys.seal(
                uow, result_json, binding_for(job, RESULT), project_id=job.project_id
            )
            uow.artifacts.put(job.tenant_id, job.id, RESULT, sealed)
            _keep_log(uow, self._keys, job, log)
            problem = _verification_problem(job, result_json)
            if problem is None:
                job = move(uow, job, JobState.VERIFIED, worker.id, "result verified")
            else:
                job = move(uow, job, JobState.FAILED, worker.id, problem)
            uow.leases.delete(lease.id)
            uow.commit()
        self.signal.bump()
        return job

    def fail(
        self, worker: WorkerRecord, lease_id: str, reason: str, *, log: str | None = None
    ) -> Job:
        with self._uow() as uow:
            lease, job = self._held(uow, worker, lease_id)
            if job.state not in ACTIVE:
                raise Conflict(f"job is {job.state.value}, not running", state=job.state.value)
            job = move(uow, job, JobState.FAILED, worker.id, _clean_reason(reason))
            _keep_log(uow, self._keys, job, log)
            uow.leases.delete(lease.id)
            uow.commit()
        self.signal.bump()
        return job

    def _held(self, uow: UnitOfWork, worker: WorkerRecord, lease_id: str) -> tuple[JobLease, Job]:
        """The lease and its (locked) job, if this worker holds the lease and it is live.

        Another worker's lease answers like a missing one.
        """
        try:
            lease = uow.leases.get(lease_id)
        except NotFound:
            raise NotFound("lease not found or expired") from None
        if lease.worker_id != worker.id:
            raise NotFound("lease not found or expired")
        if as_utc(lease.expires_at) <= utcnow():
            raise NotFound("lease not found or expired")
        job = uow.jobs.get_for_update(lease.tenant_id, lease.job_id)
        self._decide(uow, worker, Action.JOB_REPORT, job)
        return lease, job

    def _decide(self, uow: UnitOfWork, worker: WorkerRecord, action: Action, job: Job) -> None:
        """The execution plane asks the same decision point: only jobs of backends it serves."""
        self._authz.authorize_worker(
            uow,
            WorkerFacts(worker.id, frozenset(worker.backends)),
            action,
            facts.job_in(uow, self._catalogue, job),
            missing="lease not found or expired",
        )


def _verification_problem(job: Job, result_json: bytes) -> str | None:
    """Check a result is plausible for its job before anyone relies on it."""
    try:
        result = RunResult.from_json(result_json.decode())
    except (QplaneError, UnicodeDecodeError):
        return "result failed verification: malformed result"
    if result.shots != job.shots or sum(result.counts.values()) != job.shots:
        return "result failed verification: counts do not add up to the shots requested"
    if result.backend != job.backend:
        return "result failed verification: produced by another backend"
    if job.seed is not None and result.seed != job.seed:
        return "result failed verification: seed differs from the job's"
    if any(v < 0 for v in result.counts.values()) or any(
        set(k) - {"0", "1", " "} for k in result.counts
    ):
        return "result failed verification: malformed counts"
    return None


def _keep_log(uow: UnitOfWork, keys: KeyHierarchy, job: Job, log: str | None) -> None:
    """Seal the worker's execution log as the job's ``log`` artifact (none sent: none kept)."""
    if log is None:
        return
    data = log.encode()
    if len(data) > MAX_EXECUTION_LOG_BYTES:
        raise ValidationFailed(
            f"an execution log may be at most {MAX_EXECUTION_LOG_BYTES} bytes",
            field="log",
            limit=MAX_EXECUTION_LOG_BYTES,
        )
    sealed = keys.seal(uow, data, binding_for(job, LOG), project_id=job.project_id)
    uow.artifacts.put(job.tenant_id, job.id, LOG, sealed)


def _clean_reason(reason: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in reason)
    return printable[:_MAX_REASON] or "execution failed"
