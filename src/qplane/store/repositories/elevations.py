"""Break-glass elevations: written once when granted, read when an operator uses one.

An elevation is never changed or deleted by the application: it expires,
and its record stays as evidence beside the audit entries that name it.
"""

from __future__ import annotations

from qplane.domain.elevation import BreakGlassGrant
from qplane.store.models_audit import ElevationRow
from qplane.store.repositories._base import Repository


class SqlElevationRepository(Repository):
    def add(self, grant: BreakGlassGrant) -> None:
        with self._guarded(conflict="elevation already exists"):
            self._session.add(
                ElevationRow(
                    id=grant.id,
                    operator_id=grant.operator_id,
                    tenant_id=grant.tenant_id,
                    reason=grant.reason,
                    created_at=grant.created_at,
                    expires_at=grant.expires_at,
                )
            )

    def get(self, elevation_id: str) -> BreakGlassGrant | None:
        row = self._session.get(ElevationRow, elevation_id, populate_existing=True)
        if row is None:
            return None
        return BreakGlassGrant(
            id=row.id,
            operator_id=row.operator_id,
            tenant_id=row.tenant_id,
            reason=row.reason,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
