"""Tenants' audit HMAC keys (`qplane.audit.correlation`), kept only as sealed values.

A key is written once per tenant and never replaced: its digests must stay
comparable for as long as the log keeps them. Key rotation rewraps its data
key like any sealed value, and a crypto-shred of the tenant's ring leaves
it unopenable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from qplane.domain.ports import SealedArtifact, StaleSeal
from qplane.store.models_audit import AuditKeyRow
from qplane.store.repositories import _sealed
from qplane.store.repositories._base import Repository

#: Mirrors `qplane.audit.correlation`: (tenant, "audit", tenant, "audit-key").
_KEY = _sealed.SealedColumns(
    model=AuditKeyRow,
    keys=(AuditKeyRow.tenant_id,),
    ring=AuditKeyRow.kek_ring,
    version=AuditKeyRow.kek_version,
    wrapped_key=AuditKeyRow.wrapped_key,
    nonce=AuditKeyRow.nonce,
    ciphertext=AuditKeyRow.ciphertext,
    binding=lambda row: (row.tenant_id, "audit", row.tenant_id, "audit-key"),
)


class SqlAuditKeyRepository(Repository):
    def get(self, tenant_id: str) -> SealedArtifact | None:
        row = self._first(select(AuditKeyRow).where(AuditKeyRow.tenant_id == tenant_id))
        return None if row is None else _sealed_value(row)

    def add_if_absent(self, tenant_id: str, sealed: SealedArtifact, at: datetime) -> SealedArtifact:
        """Insert unless the tenant has a key; return the stored one.

        ``ON CONFLICT DO NOTHING`` rather than catching a duplicate: on
        PostgreSQL a failed insert would abort the caller's transaction
        (the job being submitted). A racing first use waits for the other
        transaction and then reads the key it stored.
        """
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "kek_ring": sealed.kek_ring,
            "kek_version": sealed.kek_version,
            "wrapped_key": sealed.wrapped_key,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
            "created_at": at,
        }
        insert = (
            postgresql.insert
            if self._session.get_bind().dialect.name == "postgresql"
            else sqlite.insert
        )
        self._session.execute(
            insert(AuditKeyRow).values(values).on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        stored = self._session.scalars(
            select(AuditKeyRow)
            .where(AuditKeyRow.tenant_id == tenant_id)
            .execution_options(populate_existing=True)
        ).one()
        return _sealed_value(stored)

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        return _sealed.stale(self._session, _KEY, ring, below_version, limit)

    def count_under(self, ring: str, below_version: int) -> int:
        return _sealed.count_under(self._session, _KEY, ring, below_version)

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        return _sealed.rewrap(self._session, _KEY, seal, version, wrapped_key)


def _sealed_value(row: AuditKeyRow) -> SealedArtifact:
    return SealedArtifact(
        kek_version=row.kek_version,
        wrapped_key=row.wrapped_key,
        nonce=row.nonce,
        ciphertext=row.ciphertext,
        kek_ring=row.kek_ring,
    )
