"""Job leases: a worker's time-limited right to run one job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from qplane.domain.errors import NotFound
from qplane.domain.workers import JobLease
from qplane.store.models import LeaseRow
from qplane.store.repositories._base import Repository


class SqlLeaseRepository(Repository):
    def add(self, lease: JobLease) -> None:
        """Raises `Conflict` when the job is already leased (one live lease per job)."""
        with self._guarded(conflict="job is already leased", missing="job or worker not found"):
            self._session.add(
                LeaseRow(
                    id=lease.id,
                    job_id=lease.job_id,
                    tenant_id=lease.tenant_id,
                    worker_id=lease.worker_id,
                    created_at=lease.created_at,
                    expires_at=lease.expires_at,
                )
            )

    def get(self, lease_id: str) -> JobLease:
        """Worker path; the caller checks the lease belongs to the calling worker."""
        row = self._first(select(LeaseRow).where(LeaseRow.id == lease_id))
        if row is None:
            raise NotFound("lease not found")
        return _lease(row)

    def for_job(self, job_id: str) -> JobLease | None:
        row = self._first(select(LeaseRow).where(LeaseRow.job_id == job_id))
        return None if row is None else _lease(row)

    def renew(self, lease_id: str, expires_at: datetime) -> None:
        """Raises `NotFound` when the lease is gone (expired and swept, or released)."""
        changed = self._rowcount(
            update(LeaseRow).where(LeaseRow.id == lease_id).values(expires_at=expires_at)
        )
        if changed == 0:
            raise NotFound("lease not found")

    def delete(self, lease_id: str) -> None:
        """Raises `NotFound` when the lease is already gone, so a stale release is visible."""
        if self._rowcount(delete(LeaseRow).where(LeaseRow.id == lease_id)) == 0:
            raise NotFound("lease not found")

    def expired(self, now: datetime, limit: int) -> list[JobLease]:
        """Sweeper path: leases that expired before *now*, oldest first, locked.

        Locked rows are skipped on PostgreSQL, so concurrent sweepers split
        the work instead of requeueing the same job twice.
        """
        stmt = (
            select(LeaseRow)
            .where(LeaseRow.expires_at < now)
            .order_by(LeaseRow.expires_at, LeaseRow.id)
            .limit(max(limit, 0))
            .with_for_update(skip_locked=True)
        )
        return [_lease(row) for row in self._all(stmt)]


def _lease(row: LeaseRow) -> JobLease:
    return JobLease(
        id=row.id,
        job_id=row.job_id,
        tenant_id=row.tenant_id,
        worker_id=row.worker_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )
