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

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from qplane.audit.correlation import Correlator
from qplane.backends.base import RunResult
from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.calibration import CalibrationKeeper
from qplane.broker.jobs import CIRCUIT, LOG, RESULT, binding_for
from qplane.broker.lifecycle import move
from qplane.broker.scheduler import Choice, Scheduler
from qplane.broker.signal import WorkSignal
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain import ids
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import (
    Conflict,
    NotFound,
    QplaneError,
    ResidencyViolation,
    Unauthenticated,
    ValidationFailed,
)
from qplane.domain.jobs import ACTIVE, MAX_EXECUTION_LOG_BYTES, Job, JobState
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.scheduling import StoredCalibration
from qplane.domain.workers import JobLease, WorkerRecord
from qplane.identity.workload import verify_result_signature
from qplane.policy.actions import Action
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import WorkerFacts

_MAX_REASON: Final = 500
#: The most jobs one lease request may take (always one tenant's, on one device).
MAX_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """What a worker gets for one job: the circuit (and the device's calibration), nothing more."""

    lease: JobLease
    job: Job
    source: str
    calibration: StoredCalibration | None = None


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
        catalogue: BackendCatalogue,
        calibrations: CalibrationKeeper | None = None,
        jitter_s: float = 0.0,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._catalogue = catalogue
        self._scheduler = Scheduler(catalogue)
        self._calibrations = calibrations or CalibrationKeeper(
            uow_factory, catalogue, interval_s=86400.0, window_s=0.0
        )
        self._keys = keys
        self._correlate = Correlator(keys)
        self._ttl = timedelta(seconds=lease_ttl_s)
        self._jitter_s = jitter_s
        self._pause = pause
        self.signal = signal or WorkSignal()

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    def lease(self, worker: WorkerRecord, backends: Sequence[str]) -> LeaseGrant | None:
        """Schedule the next job on a backend this worker serves, or return None."""
        grants = self.lease_batch(worker, backends, 1)
        return grants[0] if grants else None

    def lease_batch(
        self, worker: WorkerRecord, backends: Sequence[str], max_jobs: int
    ) -> list[LeaseGrant]:
        """Lease up to *max_jobs* jobs, all of ONE tenant on ONE device (a batch), or none.

        Each dispatch first waits a random moment (up to the configured
        jitter), so when a job starts says less about when other jobs were
        submitted or finished. A worker leases only on devices of its own
        region: payloads never travel to another region to run.
        """
        if not 1 <= max_jobs <= MAX_BATCH:
            raise ValidationFailed(
                f"a lease may take 1 to {MAX_BATCH} jobs", field="max_jobs", actual=max_jobs
            )
        served = self._served(worker, backends)
        if self._jitter_s > 0:
            self._pause(random.uniform(0.0, self._jitter_s))  # noqa: S311 - timing noise, not a key
        with self._uow() as uow:
            if uow.workers.get(worker.id).disabled:
                # Revoked while this request waited for work (long poll): no new lease.
                raise Unauthenticated("worker authentication failed")
            now = utcnow()
            first = self._scheduler.pick(uow, served, now)
            if first is None:
                return []
            grants = [self._grant(uow, worker, first, now)]
            held_s = first.estimated_s
            while len(grants) < min(max_jobs, max(first.backend.max_circuits, 1)):
                more = self._scheduler.next_in_batch(uow, first, held_s, now)
                if more is None:
                    break
                grants.append(self._grant(uow, worker, more, now))
                held_s += more.estimated_s
            uow.commit()
        return grants

    def _served(self, worker: WorkerRecord, backends: Sequence[str]) -> list[str]:
        """The backends to lease from: asked for, served by the worker, known to the
        catalogue (a worker registered before a backend was retired) and in its region."""
        wanted = [name for name in backends if name in worker.backends] if backends else []
        served = wanted if backends else list(worker.backends)
        located = [(name, self._region(name)) for name in served]
        return [
            name
            for name, region in located
            if region is not None and (not worker.region or region == worker.region)
        ]

    def _region(self, backend: str) -> str | None:
        try:
            return self._catalogue.get(backend).info.region
        except ValidationFailed:
            return None

    def _grant(
        self, uow: UnitOfWork, worker: WorkerRecord, choice: Choice, now: datetime
    ) -> LeaseGrant:
        job, info = choice.job, choice.backend
        if worker.region and info.region != worker.region:  # belt and braces: _served filtered
            raise ResidencyViolation("the job's region is not the worker's")
        self._decide(uow, worker, Action.JOB_LEASE, job)
        calibration = self._calibrations.current(uow, info, now) if info.calibrated else None
        lease = JobLease(
            ids.new_id(ids.LEASE), job.id, job.tenant_id, worker.id, now, now + self._ttl
        )
        job = replace(
            job,
            estimated_s=choice.estimated_s,
            dispatched_at=job.dispatched_at or now,
            calibration_id=None if calibration is None else calibration.id,
        )
        job = move(uow, job, JobState.SCHEDULED, worker.id, f"leased by {worker.name}")
        uow.leases.add(lease)
        sealed = uow.artifacts.get(job.tenant_id, job.id, CIRCUIT)
        source = self._keys.open(uow, sealed, binding_for(job, CIRCUIT))
        return LeaseGrant(lease, job, source.decode(), calibration)

    def start(self, worker: WorkerRecord, lease_id: str) -> Job:
        with self._uow() as uow:
            _, job = self._held(uow, worker, lease_id)
            if job.state is not JobState.SCHEDULED:
                raise Conflict(f"job is {job.state.value}, not scheduled", state=job.state.value)
            job = move(uow, replace(job, started_at=utcnow()), JobState.RUNNING, worker.id)
            uow.commit()
        return job

    def heartbeat(self, worker: WorkerRecord, lease_id: str) -> LeaseStatus:
        """Renew a lease; tells the worker to stop when the job was cancelled meanwhile,
        or when it ran past its time limit (the job fails, saying so)."""
        with self._uow() as uow:
            lease, job = self._held(uow, worker, lease_id)
            if job.state is JobState.RUNNING and over_time_limit(job, utcnow()):
                move(uow, job, JobState.FAILED, None, time_limit_reason(job))
                uow.leases.delete(lease.id)
                uow.commit()
                self.signal.bump()
                return LeaseStatus(False, as_utc(lease.expires_at).isoformat())
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
            metered = _metered_seconds(result_json)
            if metered is not None:
                # A worker cannot charge a tenant for longer than the job may run.
                metered = min(metered, float(job.time_limit_s))
                self._scheduler.settle(uow, job, metered)
                job = replace(job, device_seconds=metered)
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


def over_time_limit(job: Job, now: datetime) -> bool:
    """Whether a running job has run longer than its time limit."""
    started = job.started_at
    return started is not None and as_utc(started) + timedelta(seconds=job.time_limit_s) <= now


def time_limit_reason(job: Job) -> str:
    return f"the job ran longer than its time limit of {job.time_limit_s} s and was stopped"


def _metered_seconds(result_json: bytes) -> float | None:
    """The device time a result reports (metered by the backend), if it is a valid result."""
    try:
        result = RunResult.from_json(result_json.decode())
    except (QplaneError, UnicodeDecodeError):
        return None
    device_time = result.metadata.get("device_time_s")
    numeric = isinstance(device_time, int | float) and not isinstance(device_time, bool)
    if numeric and 0 <= float(device_time or 0) < 10**9:
        return float(device_time or 0)
    return result.execution_time_s


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
    if job.calibration_id is not None and result.metadata.get("calibration_id") != (
        job.calibration_id
    ):
        return "result failed verification: run under another calibration than leased"
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
