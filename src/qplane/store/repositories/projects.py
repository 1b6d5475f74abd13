"""Projects: workspaces inside exactly one tenant."""

from __future__ import annotations

from sqlalchemy import select, update

from qplane.domain.errors import NotFound
from qplane.domain.tenancy import Project
from qplane.store.models import ProjectRow
from qplane.store.repositories._base import Repository


class SqlProjectRepository(Repository):
    def add(self, project: Project) -> None:
        """Raises `Conflict` for a name already used in the tenant, `NotFound` for no tenant."""
        with self._guarded(
            conflict="a project with this name already exists", missing="tenant not found"
        ):
            self._session.add(
                ProjectRow(
                    id=project.id,
                    tenant_id=project.tenant_id,
                    name=project.name,
                    created_at=project.created_at,
                    allowed_regions=list(project.allowed_regions),
                )
            )

    def get(self, tenant_id: str, project_id: str) -> Project:
        """Raises `NotFound` for a missing project and for another tenant's alike."""
        row = self._first(
            select(ProjectRow).where(ProjectRow.tenant_id == tenant_id, ProjectRow.id == project_id)
        )
        if row is None:
            raise NotFound("project not found")
        return _project(row)

    def by_name(self, tenant_id: str, name: str) -> Project | None:
        row = self._first(
            select(ProjectRow).where(ProjectRow.tenant_id == tenant_id, ProjectRow.name == name)
        )
        return None if row is None else _project(row)

    def set_allowed_regions(
        self, tenant_id: str, project_id: str, regions: tuple[str, ...]
    ) -> None:
        changed = self._rowcount(
            update(ProjectRow)
            .where(ProjectRow.tenant_id == tenant_id, ProjectRow.id == project_id)
            .values(allowed_regions=list(regions))
        )
        if changed == 0:
            raise NotFound("project not found")

    def for_tenant(self, tenant_id: str) -> list[Project]:
        rows = self._all(
            select(ProjectRow).where(ProjectRow.tenant_id == tenant_id).order_by(ProjectRow.name)
        )
        return [_project(row) for row in rows]


def _project(row: ProjectRow) -> Project:
    return Project(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        created_at=row.created_at,
        allowed_regions=tuple(row.allowed_regions),
    )
