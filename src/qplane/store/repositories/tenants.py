"""Tenants: the organisations that own everything else."""

from __future__ import annotations

from sqlalchemy import select, update

from qplane.domain.errors import NotFound
from qplane.domain.tenancy import Tenant
from qplane.store.models import TenantRow
from qplane.store.repositories._base import Repository


class SqlTenantRepository(Repository):
    def add(self, tenant: Tenant) -> None:
        """Raises `Conflict` when the name (or id) is taken."""
        with self._guarded(conflict="a tenant with this name already exists"):
            self._session.add(
                TenantRow(
                    id=tenant.id,
                    name=tenant.name,
                    max_running_jobs=tenant.max_running_jobs,
                    created_at=tenant.created_at,
                    timezone=tenant.timezone,
                    region=tenant.region,
                    plan=tenant.plan,
                    allowed_regions=list(tenant.allowed_regions),
                )
            )

    def get(self, tenant_id: str) -> Tenant:
        row = self._first(select(TenantRow).where(TenantRow.id == tenant_id))
        if row is None:
            raise NotFound("tenant not found")
        return _tenant(row)

    def by_name(self, name: str) -> Tenant | None:
        row = self._first(select(TenantRow).where(TenantRow.name == name))
        return None if row is None else _tenant(row)

    def update_settings(self, tenant_id: str, *, timezone: str, region: str) -> None:
        changed = self._rowcount(
            update(TenantRow)
            .where(TenantRow.id == tenant_id)
            .values(timezone=timezone, region=region)
        )
        if changed == 0:
            raise NotFound("tenant not found")

    def update_scheduling(
        self, tenant_id: str, *, plan: str, allowed_regions: tuple[str, ...]
    ) -> None:
        changed = self._rowcount(
            update(TenantRow)
            .where(TenantRow.id == tenant_id)
            .values(plan=plan, allowed_regions=list(allowed_regions))
        )
        if changed == 0:
            raise NotFound("tenant not found")

    def list_all(self) -> list[Tenant]:
        """Operator path only: every tenant, by name."""
        return [_tenant(row) for row in self._all(select(TenantRow).order_by(TenantRow.name))]


def _tenant(row: TenantRow) -> Tenant:
    return Tenant(
        id=row.id,
        name=row.name,
        max_running_jobs=row.max_running_jobs,
        created_at=row.created_at,
        timezone=row.timezone,
        region=row.region,
        plan=row.plan,
        allowed_regions=tuple(row.allowed_regions),
    )
