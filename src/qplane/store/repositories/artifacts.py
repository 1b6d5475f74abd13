"""Sealed artifacts (a job's circuit, result and log), stored exactly as they were sealed.

With regional blob stores (residency), an artifact is split: its row in the
database, which may be global, keeps only routing and key metadata (the
wrapped data key, its KEK ring and version, the nonce, the region and the
blob's digest), and the ciphertext goes to the blob store of the job's
region. Without stores (low-level store tests, tools that never touch
payloads), and for jobs from before regions (``region == ''``, whose circuit
was already stored inline), the ciphertext stays in the row as it always did.

Blobs are written before their row and never deleted inline: a transaction
that rolls back leaves at worst an orphan blob, which `collect_orphans`
removes once it is older than a grace period, and never a row without its
payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Final

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from qplane.domain.errors import IntegrityError, NotFound
from qplane.domain.ports import SealedArtifact, StaleSeal
from qplane.store.blobs import BlobKey, RegionalBlobStores
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
#: Blobs looked up against their rows in one query by the collector.
_GC_BATCH: Final = 200


class SqlArtifactRepository(Repository):
    def __init__(self, session: Session, blobs: RegionalBlobStores | None = None) -> None:
        super().__init__(session)
        self._blobs = blobs

    def put(self, tenant_id: str, job_id: str, kind: str, sealed: SealedArtifact) -> None:
        """Store, or replace, the job's artifact of this kind.

        Raises `NotFound` when the job does not exist in *tenant_id*: the
        schema references the job by (tenant, job), so an artifact can never
        be filed under another tenant's job. With blob stores, raises
        `ResidencyViolation` when the job's region has no store, before
        anything is written: the payload is never stored elsewhere.
        """
        region = self._session.scalar(
            select(JobRow.region).where(JobRow.tenant_id == tenant_id, JobRow.id == job_id)
        )
        if region is None:
            raise NotFound("job not found")
        ciphertext: bytes | None = sealed.ciphertext
        digest: str | None = None
        if self._blobs is not None and region:
            store = self._blobs.for_region(region)
            digest = store.write(tenant_id, job_id, kind, sealed.ciphertext).digest
            ciphertext = None
        row = self._find(tenant_id, job_id, kind)
        with self._guarded(conflict="artifact was stored concurrently", missing="job not found"):
            if row is None:
                row = ArtifactRow(tenant_id=tenant_id, job_id=job_id, kind=kind)
                self._session.add(row)
            row.kek_ring = sealed.kek_ring
            row.kek_version = sealed.kek_version
            row.wrapped_key = sealed.wrapped_key
            row.nonce = sealed.nonce
            row.ciphertext = ciphertext
            row.region = region if digest is not None else None
            row.blob_digest = digest

    def get(self, tenant_id: str, job_id: str, kind: str) -> SealedArtifact:
        """Raises `NotFound` for a missing artifact and for another tenant's alike.

        A payload in a blob store is checked against the row's digest:
        `IntegrityError` when it is missing or altered, and
        `ResidencyViolation` when this process has no store for its region.
        """
        row = self._find(tenant_id, job_id, kind)
        if row is None:
            raise NotFound("artifact not found")
        return SealedArtifact(
            kek_version=row.kek_version,
            wrapped_key=row.wrapped_key,
            nonce=row.nonce,
            ciphertext=self._ciphertext(row),
            kek_ring=row.kek_ring,
        )

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        """Rewrapping needs only the wrapped key: a blob's payload is not read (nor returned)."""
        return _sealed.stale(self._session, _COLUMNS, ring, below_version, limit)

    def count_under(self, ring: str, below_version: int) -> int:
        return _sealed.count_under(self._session, _COLUMNS, ring, below_version)

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        return _sealed.rewrap(self._session, _COLUMNS, seal, version, wrapped_key)

    def delete_for_job(self, tenant_id: str, job_id: str) -> int:
        """Delete every artifact of the job (retention); returns how many were deleted.

        Only the rows go here: their blobs become orphans that
        `collect_orphans` removes, so a deletion that rolls back loses nothing.
        """
        return self._rowcount(
            delete(ArtifactRow).where(
                ArtifactRow.tenant_id == tenant_id, ArtifactRow.job_id == job_id
            )
        )

    def collect_orphans(self, written_before: datetime) -> int:
        """Delete blobs that no row points to and that were last written before *written_before*.

        *written_before* must lie a grace period in the past (see
        `qplane.store.database.ORPHAN_GRACE`): a blob written by a put whose
        transaction has not committed yet has no row either. Must run
        unconfined (every tenant's rows visible), or it would take other
        tenants' blobs for orphans. Returns how many files and directories
        it removed.
        """
        if self._blobs is None:
            return 0
        removed = 0
        for region in self._blobs.regions():
            store = self._blobs.for_region(region)
            for batch in _batched(store.stored_keys(written_before), _GC_BATCH):
                kept = self._referenced(region, batch)
                for key in batch:
                    if key not in kept:
                        removed += store.delete(key, unless_written_after=written_before)
            removed += store.remove_debris(written_before)
        return removed

    def _ciphertext(self, row: ArtifactRow) -> bytes:
        if row.ciphertext is not None:
            return row.ciphertext  # stored inline, before regional blob stores
        if row.region is None or row.blob_digest is None:
            raise IntegrityError("artifact has no payload")
        store = (self._blobs or RegionalBlobStores(())).for_region(row.region)
        return store.read(BlobKey(row.tenant_id, row.job_id, row.kind, row.blob_digest))

    def _referenced(self, region: str, keys: Sequence[BlobKey]) -> set[BlobKey]:
        """The blobs among *keys* that a row in *region* points to."""
        names = [(key.tenant_id, key.job_id, key.kind) for key in keys]
        rows = self._session.execute(
            select(
                ArtifactRow.tenant_id, ArtifactRow.job_id, ArtifactRow.kind, ArtifactRow.blob_digest
            ).where(
                tuple_(ArtifactRow.tenant_id, ArtifactRow.job_id, ArtifactRow.kind).in_(names),
                ArtifactRow.region == region,
                ArtifactRow.blob_digest.is_not(None),
            )
        )
        return {
            BlobKey(tenant_id, job_id, kind, digest)
            for tenant_id, job_id, kind, digest in rows
            if digest is not None
        }

    def _find(self, tenant_id: str, job_id: str, kind: str) -> ArtifactRow | None:
        return self._first(
            select(ArtifactRow).where(
                ArtifactRow.tenant_id == tenant_id,
                ArtifactRow.job_id == job_id,
                ArtifactRow.kind == kind,
            )
        )


def _batched(keys: Iterable[BlobKey], size: int) -> Iterator[list[BlobKey]]:
    iterator = iter(keys)
    while batch := list(islice(iterator, size)):
        yield batch
