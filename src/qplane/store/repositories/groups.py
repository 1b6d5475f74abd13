"""Tenant groups: named sets of principals that policies can refer to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from qplane.domain.tenancy import GroupMember
from qplane.store.models_membership import PrincipalGroupRow
from qplane.store.repositories._base import Repository


class SqlGroupRepository(Repository):
    def add(self, member: GroupMember) -> bool:
        """Record *member*; False when that exact grant already existed."""
        existing = self._first(
            select(PrincipalGroupRow).where(
                PrincipalGroupRow.tenant_id == member.tenant_id,
                PrincipalGroupRow.principal_id == member.principal_id,
                PrincipalGroupRow.group_name == member.group,
                PrincipalGroupRow.source == member.source,
            )
        )
        if existing is not None:
            return False
        with self._guarded(conflict="group membership already exists", missing="not found"):
            self._session.add(
                PrincipalGroupRow(
                    tenant_id=member.tenant_id,
                    principal_id=member.principal_id,
                    group_name=member.group,
                    source=member.source,
                    created_at=member.created_at,
                )
            )
        return True

    def remove_all(self, tenant_id: str, group: str, principal_id: str) -> int:
        return self._rowcount(
            delete(PrincipalGroupRow).where(
                PrincipalGroupRow.tenant_id == tenant_id,
                PrincipalGroupRow.group_name == group,
                PrincipalGroupRow.principal_id == principal_id,
            )
        )

    def replace_source(
        self,
        tenant_id: str,
        principal_id: str,
        source: str,
        groups: frozenset[str],
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        current = frozenset(
            self._all(
                select(PrincipalGroupRow.group_name).where(
                    PrincipalGroupRow.tenant_id == tenant_id,
                    PrincipalGroupRow.principal_id == principal_id,
                    PrincipalGroupRow.source == source,
                )
            )
        )
        added, removed = groups - current, current - groups
        if removed:
            self._rowcount(
                delete(PrincipalGroupRow).where(
                    PrincipalGroupRow.tenant_id == tenant_id,
                    PrincipalGroupRow.principal_id == principal_id,
                    PrincipalGroupRow.source == source,
                    PrincipalGroupRow.group_name.in_(sorted(removed)),
                )
            )
        for group in sorted(added):
            self.add(GroupMember(tenant_id, group, principal_id, source, now))
        return added, removed

    def groups_of(self, tenant_id: str, principal_id: str) -> frozenset[str]:
        return frozenset(
            self._all(
                select(PrincipalGroupRow.group_name).where(
                    PrincipalGroupRow.tenant_id == tenant_id,
                    PrincipalGroupRow.principal_id == principal_id,
                )
            )
        )

    def members_of(self, tenant_id: str, group: str) -> list[GroupMember]:
        rows = self._all(
            select(PrincipalGroupRow)
            .where(PrincipalGroupRow.tenant_id == tenant_id, PrincipalGroupRow.group_name == group)
            .order_by(PrincipalGroupRow.principal_id, PrincipalGroupRow.source)
        )
        return [
            GroupMember(r.tenant_id, r.group_name, r.principal_id, r.source, r.created_at)
            for r in rows
        ]

    def names(self, tenant_id: str) -> list[str]:
        rows = self._all(
            select(PrincipalGroupRow.group_name)
            .where(PrincipalGroupRow.tenant_id == tenant_id)
            .distinct()
            .order_by(PrincipalGroupRow.group_name)
        )
        return list(rows)
