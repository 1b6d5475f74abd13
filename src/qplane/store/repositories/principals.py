"""Principals: users and service accounts of a tenant, and platform operators."""

from __future__ import annotations

from sqlalchemy import select, update

from qplane.domain.errors import NotFound
from qplane.domain.tenancy import Principal, PrincipalKind, Role
from qplane.store.models import PrincipalRow
from qplane.store.repositories._base import Repository


class SqlPrincipalRepository(Repository):
    def add(self, principal: Principal, password_hash: str | None) -> None:
        """Raises `Conflict` when the email is taken (emails are global login names)."""
        with self._guarded(
            conflict="a principal with this email already exists", missing="tenant not found"
        ):
            self._session.add(
                PrincipalRow(
                    id=principal.id,
                    kind=principal.kind.value,
                    tenant_id=principal.tenant_id,
                    email=principal.email,
                    roles=sorted(role.value for role in principal.roles),
                    password_hash=password_hash,
                    disabled=principal.disabled,
                )
            )

    def get(self, tenant_id: str | None, principal_id: str) -> Principal:
        """A tenant's principal, or with ``tenant_id`` None an operator (who has no tenant).

        Raises `NotFound` for a missing principal and for one of another tenant.
        """
        owner = (
            PrincipalRow.tenant_id.is_(None)
            if tenant_id is None
            else PrincipalRow.tenant_id == tenant_id
        )
        row = self._first(select(PrincipalRow).where(owner, PrincipalRow.id == principal_id))
        if row is None:
            raise NotFound("principal not found")
        return _principal(row)

    def for_login(self, email: str) -> tuple[Principal, str | None] | None:
        """Login path only: the principal with this (already case-folded) email and its hash."""
        row = self._first(select(PrincipalRow).where(PrincipalRow.email == email))
        return None if row is None else (_principal(row), row.password_hash)

    def set_password_hash(self, principal_id: str, password_hash: str) -> None:
        changed = self._rowcount(
            update(PrincipalRow)
            .where(PrincipalRow.id == principal_id)
            .values(password_hash=password_hash)
        )
        if changed == 0:
            raise NotFound("principal not found")

    def for_tenant(self, tenant_id: str) -> list[Principal]:
        rows = self._all(
            select(PrincipalRow)
            .where(PrincipalRow.tenant_id == tenant_id)
            .order_by(PrincipalRow.email)
        )
        return [_principal(row) for row in rows]


def _principal(row: PrincipalRow) -> Principal:
    return Principal(
        id=row.id,
        kind=PrincipalKind(row.kind),
        tenant_id=row.tenant_id,
        email=row.email,
        roles=frozenset(Role(role) for role in row.roles),
        disabled=row.disabled,
    )
