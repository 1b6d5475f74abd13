"""Background housekeeping: re-queue jobs whose worker vanished, retire old jobs.

Runs in the control plane on a timer. Safe to run on several servers at
once: each step locks the job it changes and re-checks its state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from qplane.broker.auditing import audit
from qplane.broker.lifecycle import move
from qplane.broker.signal import WorkSignal
from qplane.domain.clock import utcnow
from qplane.domain.jobs import ACTIVE, TERMINAL, Job, JobState
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.workers import JobLease

_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class SweepReport:
    requeued: int = 0
    failed: int = 0
    retired: int = 0


class Sweeper:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        max_attempts: int,
        retention_days: float,
        signal: WorkSignal | None = None,
    ) -> None:
        self._uow = uow_factory
        self._signal = signal or WorkSignal()
        self._max_attempts = max_attempts
        self._retention = timedelta(days=retention_days)

    def sweep(self) -> SweepReport:
        requeued, failed = self.expire_leases()
        return SweepReport(requeued, failed, self.retire())

    def expire_leases(self) -> tuple[int, int]:
        """Return expired leases' jobs to their tenant's queue, or fail them after too many tries.

        A worker killed mid-job stops heartbeating; its lease runs out and the
        job is leased again, so no job is lost and none is reported twice.
        """
        with self._uow() as uow:
            expired = uow.leases.expired(utcnow(), _BATCH)
        requeued = failed = 0
        for lease in expired:
            outcome = self._expire(lease)
            if outcome != "skipped":
                self._signal.bump()
            requeued += outcome == "requeued"
            failed += outcome == "failed"
        return requeued, failed

    def _expire(self, lease: JobLease) -> str:
        with self._uow() as uow:
            current = uow.leases.for_job(lease.job_id)
            if current is None or current.id != lease.id or current.expires_at > utcnow():
                return "skipped"  # renewed or handled meanwhile
            job = uow.jobs.get_for_update(lease.tenant_id, lease.job_id)
            uow.leases.delete(lease.id)
            outcome = "released"
            if job.state in ACTIVE:
                attempts = job.attempts + 1
                job = _with_attempts(job, attempts)
                if attempts >= self._max_attempts:
                    move(
                        uow, job, JobState.FAILED, None, f"worker lost {attempts} times; giving up"
                    )
                    outcome = "failed"
                else:
                    move(uow, job, JobState.QUEUED, None, "worker lease expired; re-queued")
                    outcome = "requeued"
            uow.commit()
        return outcome

    def retire(self) -> int:
        """Delete the artifacts of jobs finished longer ago than the retention period.

        The job's metadata and its audit trail stay; its circuit and result go.
        """
        with self._uow() as uow:
            due = uow.jobs.retirable(utcnow() - self._retention, _BATCH)
        retired = 0
        for tenant_id, job_id in due:
            with self._uow() as uow:
                job = uow.jobs.get_for_update(tenant_id, job_id)
                if job.state not in TERMINAL or job.state is JobState.RETIRED:
                    continue
                removed = uow.artifacts.delete_for_job(tenant_id, job_id)
                move(uow, job, JobState.RETIRED, None, "retention period over")
                audit(
                    uow,
                    None,
                    "artifact.delete",
                    tenant_id=tenant_id,
                    target=job_id,
                    detail=f"{removed} artifacts deleted at retirement",
                )
                uow.commit()
                retired += 1
        return retired


def _with_attempts(job: Job, attempts: int) -> Job:

    return replace(job, attempts=attempts)
