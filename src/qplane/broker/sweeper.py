"""Background housekeeping: re-queue jobs whose worker vanished, retire old jobs,
and forget identity state that no check needs any more.

Runs in the control plane on a timer. Safe to run on several servers at
once: each step locks the job it changes and re-checks its state, and each
purge deletes one bounded batch per table, skipping rows another server
holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from qplane.broker.auditing import audit
from qplane.broker.calibration import CalibrationKeeper
from qplane.broker.dispatch import over_time_limit, time_limit_reason
from qplane.broker.lifecycle import move
from qplane.broker.signal import WorkSignal
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain.audit import log_for
from qplane.domain.clock import utcnow
from qplane.domain.jobs import ACTIVE, TERMINAL, Job, JobState
from qplane.domain.ports import AuditQuery, UnitOfWork, UnitOfWorkFactory
from qplane.domain.workers import JobLease

_BATCH: Final = 100
#: Rows each purge deletes from one table in one transaction, at most.
PURGE_BATCH: Final = 500
#: Seconds between purges while nothing is left over (each server purges on its own).
PURGE_INTERVAL_S: Final = 60.0
#: Seconds between looks at the devices' calendars (windows are planned a day ahead).
CALENDAR_INTERVAL_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class SweepReport:
    requeued: int = 0
    failed: int = 0
    retired: int = 0
    purged: int = 0
    rewrapped: int = 0
    checkpointed: int = 0
    timed_out: int = 0
    calibrated: int = 0


class Sweeper:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        max_attempts: int,
        retention_days: float,
        signal: WorkSignal | None = None,
        *,
        refresh_token_ttl_s: int = 12 * 3600,
        monotonic: Callable[[], float] = time.monotonic,
        keys: KeyHierarchy | None = None,
        checkpoints: Callable[[], int] | None = None,
        checkpoint_interval_s: float = 60.0,
        audit_retention: Callable[[], int] | None = None,
        blob_gc: Callable[[], int] | None = None,
        calibrations: CalibrationKeeper | None = None,
    ) -> None:
        self._uow = uow_factory
        self._calibrations = calibrations
        self._next_calendar = monotonic()
        self._checkpoints = checkpoints
        self._audit_retention = audit_retention
        #: Deletes payload blobs left without a row (retired jobs, rolled-back puts).
        self._blob_gc = blob_gc
        self._checkpoint_interval_s = checkpoint_interval_s
        self._keys = keys
        self._signal = signal or WorkSignal()
        self._max_attempts = max_attempts
        self._retention = timedelta(days=retention_days)
        self._refresh_grace = timedelta(seconds=refresh_token_ttl_s)
        self._monotonic = monotonic
        self._next_purge = monotonic()
        self._next_checkpoint = monotonic()

    def sweep(self) -> SweepReport:
        requeued, failed = self.expire_leases()
        return SweepReport(
            requeued,
            failed,
            self.retire(),
            self._purge_when_due(),
            self.rewrap_keys(),
            self._checkpoint_when_due(),
            self.enforce_time_limits(),
            self._calendar_when_due(),
        )

    def enforce_time_limits(self, now: datetime | None = None) -> int:
        """Fail running jobs past their time limit, saying so; their worker stops at its
        next heartbeat. Done here too, so a job whose worker hangs cannot hold a slot
        (or the device) beyond its limit."""
        at = now or utcnow()
        with self._uow() as uow:
            overdue = [job for job in uow.jobs.running(_BATCH) if over_time_limit(job, at)]
        failed = 0
        for found in overdue:
            with self._uow() as uow:
                job = uow.jobs.get_for_update(found.tenant_id, found.id)
                if job.state is not JobState.RUNNING or not over_time_limit(job, at):
                    continue
                lease = uow.leases.for_job(job.id)
                if lease is not None:
                    uow.leases.delete(lease.id)
                move(uow, job, JobState.FAILED, None, time_limit_reason(job))
                uow.commit()
                failed += 1
        if failed:
            self._signal.bump()
        return failed

    def _calendar_when_due(self) -> int:
        if self._calibrations is None or self._monotonic() < self._next_calendar:
            return 0
        self._next_calendar = self._monotonic() + CALENDAR_INTERVAL_S
        taken = self._calibrations.maintain(utcnow())
        if taken:
            self._signal.bump()  # a window ended: the device takes jobs again
        return taken

    def _checkpoint_when_due(self) -> int:
        """Sign a checkpoint of every audit log that grew, once per interval.

        Audit retention runs right after, so it only ever removes entries a
        signed checkpoint already covers.
        """
        if self._checkpoints is None or self._monotonic() < self._next_checkpoint:
            return 0
        self._next_checkpoint = self._monotonic() + self._checkpoint_interval_s
        signed = self._checkpoints()
        if self._audit_retention is not None:
            self._audit_retention()
        return signed

    def rewrap_keys(self, per_ring: int = _BATCH) -> int:
        """Move one batch of data keys per rotated ring to its newest KEK version.

        This is the background half of a rotation: new writes use the new
        version at once, and existing data keys follow here, batch by
        batch, without any payload being decrypted. Each batch is audited.
        """
        if self._keys is None:
            return 0
        with self._uow() as uow:
            rings = uow.key_rings.rotated()
        total = 0
        for name in rings:
            with self._uow() as uow:
                moved = self._keys.rewrap(uow, name, per_ring)
                if moved:
                    ring = uow.key_rings.ring(name)
                    audit(
                        uow,
                        None,
                        "key.rewrap",
                        tenant_id=None if ring is None else ring.tenant_id,
                        target=name,
                        detail=f"{moved} data keys rewrapped in the background",
                    )
                    uow.commit()
            total += moved
        return total

    def purge_expired(self, now: datetime | None = None) -> tuple[int, bool]:
        """Delete one batch per table of identity state whose time is over.

        Returns (rows deleted, whether some table had more than one batch).
        Expired entries go: seen token and proof ids (and failure counts),
        device grants, OIDC and SAML login state, deny-listed token ids,
        device-page browser sessions.
        Refresh tokens go only once their family ended (expired or revoked)
        more than a refresh lifetime ago, so a rotated token of a family
        that may still be live is always recognised as reuse.
        """
        at = now or utcnow()
        with self._uow() as uow:
            counts = _purge_batch(uow, at, at - self._refresh_grace)
            uow.commit()
        return sum(counts), any(count >= PURGE_BATCH for count in counts)

    def _purge_when_due(self) -> int:
        if self._monotonic() < self._next_purge:
            return 0
        purged, more = self.purge_expired()
        if self._blob_gc is not None and not more:  # a walk of the stores: once per interval
            purged += self._blob_gc()
        # A full batch means a backlog: come back at the next sweep, not a minute later.
        self._next_purge = self._monotonic() + (0.0 if more else PURGE_INTERVAL_S)
        return purged

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
        The retirement's entry keeps the fact and the artifacts' keyed digests
        (as their earlier entries recorded them), never their content.
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
                    job_id=job_id,
                    backend=job.backend,
                    correlations=_recorded_digests(uow, tenant_id, job_id),
                )
                uow.commit()
                retired += 1
        return retired


def _recorded_digests(uow: UnitOfWork, tenant_id: str, job_id: str) -> tuple[tuple[str, str], ...]:
    """The keyed digests the job's entries recorded (circuit at submission, result at report).

    Read back from the log rather than recomputed, so retiring never
    decrypts an artifact only to hash it.
    """
    found: dict[str, str] = {}
    query = AuditQuery(log=log_for(tenant_id), job_id=job_id)
    cursor: str | None = None
    while True:
        page = uow.audit.search(query, _BATCH, cursor)
        for entry in page.items:
            for what, digest in entry.correlations:
                found.setdefault(what, digest)
        if page.next_cursor is None:
            return tuple(sorted(found.items()))
        cursor = page.next_cursor


def _purge_batch(uow: UnitOfWork, now: datetime, families_ended_before: datetime) -> list[int]:
    return [
        uow.seen_token_ids.purge_expired(now, PURGE_BATCH),
        uow.device_grants.purge_expired(now, PURGE_BATCH),
        uow.oidc_flows.purge_expired(now, PURGE_BATCH),
        uow.saml_requests.purge_expired(now, PURGE_BATCH),
        uow.saml_assertions.purge_expired(now, PURGE_BATCH),
        uow.revocations.purge_expired(now, PURGE_BATCH),
        uow.browser_sessions.purge_expired(now, PURGE_BATCH),
        uow.refresh_tokens.purge_ended(families_ended_before, PURGE_BATCH),
    ]


def _with_attempts(job: Job, attempts: int) -> Job:

    return replace(job, attempts=attempts)
