"""Sealed artifacts (a job's circuit and result), stored exactly as the crypto layer sealed them."""

from __future__ import annotations

from sqlalchemy import delete, select

from qplane.domain.errors import NotFound
from qplane.domain.ports import SealedArtifact, StaleSeal
from qplane.store.models import ArtifactRow, JobRow
from qplane.store.repositories import _sealed
from qplane.store.repositories._base import Repository

_COLUMNS = _sealed.SealedColumns(
    model=ArtifactRow,
    keys=(ArtifactRow.job_id, ArtifactRow.kind),
    ring=ArtifactRow.kek_ring,
    version=ArtifactRow.kek_version,
    wrapped_key=ArtifactRow.wrapped_key,
    nonce=ArtifactRow.nonce,
    ciphertext=ArtifactRow.ciphertext,
    # The binding an artifact was sealed for: tenant, project, job, kind.
    binding=lambda row: (row.tenant_id, row.project_id, row.job_id, row.kind),
    extra=(ArtifactRow.tenant_id, JobRow.project_id),
    join=lambda stmt: stmt.join(
        JobRow, (JobRow.tenant_id == ArtifactRow.tenant_id) & (JobRow.id == ArtifactRow.job_id)
    ),
)


class SqlArtifactRepository(Repository):
    def put(self, tenant_id: str, job_id: str, kind: str, sealed: SealedArtifact) -> None:
        """Store, or replace (as a key rotation rewraps it), the job's artifact of this kind.

        Raises `NotFound` when the job does not exist in *tenant_id*: the
        schema references the job by (tenant, job), so an artifact can never
        be filed under another tenant's job.
        """
        job = select(JobRow.id).where(JobRow.tenant_id == tenant_id, JobRow.id == job_id)
        if self._session.scalar(job) is None:
            raise NotFound("job not found")
        row = self._find(tenant_id, job_id, kind)
        with self._guarded(conflict="artifact was stored concurrently", missing="job not found"):
            if row is None:
                row = ArtifactRow(tenant_id=tenant_id, job_id=job_id, kind=kind)
                self._session.add(row)
            row.kek_ring = sealed.kek_ring
            row.kek_version = sealed.kek_version
            row.wrapped_key = sealed.wrapped_key
            row.nonce = sealed.nonce
            row.ciphertext = sealed.ciphertext

    def get(self, tenant_id: str, job_id: str, kind: str) -> SealedArtifact:
        """Raises `NotFound` for a missing artifact and for another tenant's alike."""
        row = self._find(tenant_id, job_id, kind)
        if row is None:
            raise NotFound("artifact not found")
        return SealedArtifact(
            kek_version=row.kek_version,
            wrapped_key=row.wrapped_key,
            nonce=row.nonce,
            ciphertext=row.ciphertext,
            kek_ring=row.kek_ring,
        )

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        return _sealed.stale(self._session, _COLUMNS, ring, below_version, limit)

    def count_under(self, ring: str, below_version: int) -> int:
        return _sealed.count_under(self._session, _COLUMNS, ring, below_version)

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        return _sealed.rewrap(self._session, _COLUMNS, seal, version, wrapped_key)

    def delete_for_job(self, tenant_id: str, job_id: str) -> int:
        """Delete every artifact of the job (retention); returns how many were deleted."""
        return self._rowcount(
            delete(ArtifactRow).where(
                ArtifactRow.tenant_id == tenant_id, ArtifactRow.job_id == job_id
            )
        )

    def _find(self, tenant_id: str, job_id: str, kind: str) -> ArtifactRow | None:
        return self._first(
            select(ArtifactRow).where(
                ArtifactRow.tenant_id == tenant_id,
                ArtifactRow.job_id == job_id,
                ArtifactRow.kind == kind,
            )
        )
