"""SAML login state: pending AuthnRequests, seen assertions, and identity links.

Security properties:

* `SqlSamlLoginRequestRepository.consume` deletes the request row in the same
  statement that finds it, so a RelayState is honoured at most once even when
  two API servers receive the same POST.
* `SqlSeenAssertionRepository.remember` relies on the primary key: the second
  insert of an assertion digest fails on every database and every server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from qplane.domain.errors import Conflict, NotFound
from qplane.domain.saml import SamlIdentity, SamlLoginRequest
from qplane.domain.tenancy import Role
from qplane.store.models import PrincipalRow
from qplane.store.models_saml import (
    SamlIdentityRow,
    SamlLoginRequestRow,
    SamlSeenAssertionRow,
)
from qplane.store.repositories._base import Repository


class SqlSamlLoginRequestRepository(Repository):
    def add(self, request: SamlLoginRequest, relay_state_hash: str) -> None:
        self._session.add(
            SamlLoginRequestRow(
                relay_state_hash=relay_state_hash,
                request_id=request.request_id,
                tenant_id=request.tenant_id,
                provider_id=request.provider_id,
                expires_at=request.expires_at,
                binding_hash=request.binding_hash,
                browser_session=request.browser_session,
            )
        )
        self._session.flush()

    def consume(self, tenant_id: str, relay_state_hash: str, now: datetime) -> SamlLoginRequest:
        """Remove and return the tenant's unexpired request; `NotFound` otherwise."""
        row = self._first(
            select(SamlLoginRequestRow)
            .where(
                SamlLoginRequestRow.relay_state_hash == relay_state_hash,
                SamlLoginRequestRow.tenant_id == tenant_id,
            )
            .with_for_update()
        )
        if row is None:
            raise NotFound("SAML login request not found")
        taken = self._rowcount(
            delete(SamlLoginRequestRow).where(
                SamlLoginRequestRow.relay_state_hash == relay_state_hash
            )
        )
        if taken != 1 or row.expires_at <= now:
            raise NotFound("SAML login request not found")
        return SamlLoginRequest(
            relay_state="",  # only its digest was ever stored
            request_id=row.request_id,
            tenant_id=row.tenant_id,
            provider_id=row.provider_id,
            expires_at=row.expires_at,
            binding_hash=row.binding_hash,
            browser_session=row.browser_session,
        )

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        return self._delete_where(SamlLoginRequestRow, SamlLoginRequestRow.expires_at <= now, limit)


class SqlSeenAssertionRepository(Repository):
    def remember(self, tenant_id: str, assertion_hash: str, expires_at: datetime) -> None:
        """Record an accepted assertion; `Conflict` if it was seen before (a replay)."""
        with self._guarded(conflict="SAML assertion was already used"):
            self._session.add(
                SamlSeenAssertionRow(
                    assertion_hash=assertion_hash, tenant_id=tenant_id, expires_at=expires_at
                )
            )

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        return self._delete_where(
            SamlSeenAssertionRow, SamlSeenAssertionRow.expires_at <= now, limit
        )


class SqlSamlIdentityRepository(Repository):
    def principal_for(self, tenant_id: str, subject_hash: str) -> SamlIdentity | None:
        row = self._first(
            select(SamlIdentityRow).where(
                SamlIdentityRow.subject_hash == subject_hash,
                SamlIdentityRow.tenant_id == tenant_id,
            )
        )
        if row is None:
            return None
        return SamlIdentity(
            tenant_id=row.tenant_id,
            idp_entity_id=row.idp_entity_id,
            name_id=row.name_id,
            principal_id=row.principal_id,
            project_ids=tuple(row.project_ids),
        )

    def link(self, identity: SamlIdentity, subject_hash: str, now: datetime) -> None:
        """Raises `Conflict` when the subject or the principal is already linked."""
        with self._guarded(conflict="SAML identity already linked", missing="principal not found"):
            self._session.add(
                SamlIdentityRow(
                    subject_hash=subject_hash,
                    tenant_id=identity.tenant_id,
                    idp_entity_id=identity.idp_entity_id,
                    name_id=identity.name_id,
                    principal_id=identity.principal_id,
                    project_ids=list(identity.project_ids),
                    created_at=now,
                )
            )

    def sync(
        self,
        tenant_id: str,
        subject_hash: str,
        roles: frozenset[Role],
        project_ids: tuple[str, ...],
    ) -> None:
        """Set the linked principal's roles and projects to what the IdP says now."""
        identity = self.principal_for(tenant_id, subject_hash)
        if identity is None:
            raise NotFound("SAML identity not found")
        self._rowcount(
            update(SamlIdentityRow)
            .where(SamlIdentityRow.subject_hash == subject_hash)
            .values(project_ids=list(project_ids))
        )
        changed = self._rowcount(
            update(PrincipalRow)
            .where(PrincipalRow.id == identity.principal_id, PrincipalRow.tenant_id == tenant_id)
            .values(roles=sorted(role.value for role in roles))
        )
        if changed != 1:
            raise Conflict("linked principal is missing")
