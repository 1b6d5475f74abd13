"""Wrapped tenant key-encryption keys, one row per version.

Only wrapped keys are stored; the root key that unwraps them never reaches
the database, so a copy of it alone decrypts nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from qplane.domain.clock import utcnow
from qplane.store.models import TenantKeyRow
from qplane.store.repositories._base import Repository


class SqlTenantKeyRepository(Repository):
    def latest(self, tenant_id: str) -> tuple[int, bytes] | None:
        """(version, wrapped key) of the tenant's newest key, or None before the first."""
        row = self._first(
            select(TenantKeyRow)
            .where(TenantKeyRow.tenant_id == tenant_id)
            .order_by(TenantKeyRow.version.desc())
            .limit(1)
        )
        return None if row is None else (row.version, row.wrapped)

    def get(self, tenant_id: str, version: int) -> bytes | None:
        row = self._first(
            select(TenantKeyRow).where(
                TenantKeyRow.tenant_id == tenant_id, TenantKeyRow.version == version
            )
        )
        return None if row is None else row.wrapped

    def add(self, tenant_id: str, version: int, wrapped: bytes) -> None:
        """Raises `Conflict` when the version exists (two rotations raced).

        Raises `NotFound` when the tenant does not exist.
        """
        with self._guarded(conflict="this key version already exists", missing="tenant not found"):
            self._session.add(
                TenantKeyRow(
                    tenant_id=tenant_id, version=version, wrapped=wrapped, created_at=utcnow()
                )
            )
