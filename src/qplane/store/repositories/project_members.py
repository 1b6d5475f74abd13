"""Project membership: which principals may work in which project of their tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from qplane.domain.tenancy import ProjectMember
from qplane.store.models_membership import ProjectMemberRow
from qplane.store.repositories._base import Repository


class SqlProjectMemberRepository(Repository):
    def add(self, member: ProjectMember) -> bool:
        """Raises `NotFound` when the project is not the tenant's (the foreign key says so)."""
        if self._existing(member) is not None:
            return False
        with self._guarded(conflict="membership already exists", missing="project not found"):
            self._session.add(
                ProjectMemberRow(
                    tenant_id=member.tenant_id,
                    project_id=member.project_id,
                    principal_id=member.principal_id,
                    source=member.source,
                    created_at=member.created_at,
                )
            )
        return True

    def remove(self, tenant_id: str, project_id: str, principal_id: str, source: str) -> bool:
        return (
            self._rowcount(
                delete(ProjectMemberRow).where(
                    ProjectMemberRow.tenant_id == tenant_id,
                    ProjectMemberRow.project_id == project_id,
                    ProjectMemberRow.principal_id == principal_id,
                    ProjectMemberRow.source == source,
                )
            )
            > 0
        )

    def remove_all(self, tenant_id: str, project_id: str, principal_id: str) -> int:
        return self._rowcount(
            delete(ProjectMemberRow).where(
                ProjectMemberRow.tenant_id == tenant_id,
                ProjectMemberRow.project_id == project_id,
                ProjectMemberRow.principal_id == principal_id,
            )
        )

    def replace_source(
        self,
        tenant_id: str,
        principal_id: str,
        source: str,
        project_ids: frozenset[str],
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        current = frozenset(
            self._all(
                select(ProjectMemberRow.project_id).where(
                    ProjectMemberRow.tenant_id == tenant_id,
                    ProjectMemberRow.principal_id == principal_id,
                    ProjectMemberRow.source == source,
                )
            )
        )
        added, removed = project_ids - current, current - project_ids
        for project_id in sorted(removed):
            self.remove(tenant_id, project_id, principal_id, source)
        for project_id in sorted(added):
            self.add(ProjectMember(tenant_id, project_id, principal_id, source, now))
        return added, removed

    def projects_of(self, tenant_id: str, principal_id: str) -> frozenset[str]:
        return frozenset(
            self._all(
                select(ProjectMemberRow.project_id).where(
                    ProjectMemberRow.tenant_id == tenant_id,
                    ProjectMemberRow.principal_id == principal_id,
                )
            )
        )

    def of_project(self, tenant_id: str, project_id: str) -> list[ProjectMember]:
        rows = self._all(
            select(ProjectMemberRow)
            .where(
                ProjectMemberRow.tenant_id == tenant_id,
                ProjectMemberRow.project_id == project_id,
            )
            .order_by(ProjectMemberRow.principal_id, ProjectMemberRow.source)
        )
        return [
            ProjectMember(r.tenant_id, r.project_id, r.principal_id, r.source, r.created_at)
            for r in rows
        ]

    def _existing(self, member: ProjectMember) -> ProjectMemberRow | None:
        return self._first(
            select(ProjectMemberRow).where(
                ProjectMemberRow.tenant_id == member.tenant_id,
                ProjectMemberRow.project_id == member.project_id,
                ProjectMemberRow.principal_id == member.principal_id,
                ProjectMemberRow.source == member.source,
            )
        )
