"""Existence checks that confine a tenant's policies to the tenant's own objects.

Each answer is one indexed lookup filtered by the tenant id, so an id that
belongs to another tenant answers exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from qplane.store.models import JobRow, PrincipalRow, ProjectRow
from qplane.store.models_membership import PrincipalGroupRow
from qplane.store.repositories._base import Repository


class SqlTenantDirectoryRepository(Repository):
    def has_project(self, tenant_id: str, project_id: str) -> bool:
        return self._exists(
            select(ProjectRow.id).where(
                ProjectRow.tenant_id == tenant_id, ProjectRow.id == project_id
            )
        )

    def has_group(self, tenant_id: str, group: str) -> bool:
        return self._exists(
            select(PrincipalGroupRow.group_name).where(
                PrincipalGroupRow.tenant_id == tenant_id, PrincipalGroupRow.group_name == group
            )
        )

    def has_principal(self, tenant_id: str, principal_id: str, kind: str) -> bool:
        return self._exists(
            select(PrincipalRow.id).where(
                PrincipalRow.tenant_id == tenant_id,
                PrincipalRow.id == principal_id,
                PrincipalRow.kind == kind,
            )
        )

    def has_job(self, tenant_id: str, job_id: str) -> bool:
        return self._exists(
            select(JobRow.id).where(JobRow.tenant_id == tenant_id, JobRow.id == job_id)
        )

    def _exists(self, stmt: Select[Any]) -> bool:
        return self._session.execute(stmt.limit(1)).first() is not None
