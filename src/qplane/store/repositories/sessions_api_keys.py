"""Legacy API keys: digests of their secrets, one project each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from qplane.domain.errors import NotFound
from qplane.domain.sessions import ApiKey
from qplane.store.models_sessions import ApiKeyRow
from qplane.store.repositories._base import Repository


class SqlApiKeyRepository(Repository):
    def add(self, key: ApiKey) -> None:
        """Raises `NotFound` when the project is missing or belongs to another tenant."""
        with self._guarded(conflict="api key already exists", missing="project not found"):
            self._session.add(
                ApiKeyRow(
                    id=key.id,
                    tenant_id=key.tenant_id,
                    project_id=key.project_id,
                    name=key.name,
                    roles=sorted(key.roles),
                    secret_hash=key.secret_hash,
                    created_by=key.created_by,
                    created_at=key.created_at,
                    expires_at=key.expires_at,
                    revoked_at=key.revoked_at,
                    last_used_at=key.last_used_at,
                )
            )

    def by_id(self, key_id: str) -> ApiKey | None:
        row = self._first(select(ApiKeyRow).where(ApiKeyRow.id == key_id))
        return None if row is None else _api_key(row)

    def for_tenant(self, tenant_id: str) -> list[ApiKey]:
        rows = self._all(
            select(ApiKeyRow).where(ApiKeyRow.tenant_id == tenant_id).order_by(ApiKeyRow.created_at)
        )
        return [_api_key(row) for row in rows]

    def revoke(self, tenant_id: str, key_id: str, at: datetime) -> None:
        changed = self._rowcount(
            update(ApiKeyRow)
            .where(ApiKeyRow.tenant_id == tenant_id, ApiKeyRow.id == key_id)
            .values(revoked_at=at)
        )
        if changed == 0:
            raise NotFound("api key not found")

    def touch(self, key_id: str, at: datetime) -> None:
        self._rowcount(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at))


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        name=row.name,
        roles=frozenset(row.roles),
        secret_hash=row.secret_hash,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
