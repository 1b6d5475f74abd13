"""Refresh tokens and revocation state (watermarks and the jti deny-list)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from qplane.domain.errors import Conflict
from qplane.domain.sessions import RefreshToken, RevocationScope
from qplane.domain.tenancy import Principal
from qplane.store.models import PrincipalRow
from qplane.store.models_sessions import RefreshTokenRow, RevocationWatermarkRow, RevokedTokenRow
from qplane.store.repositories._base import Repository
from qplane.store.repositories.principals import _principal as principal_of

PLATFORM_OWNER = "platform"


class SqlRefreshTokenRepository(Repository):
    def add(self, token: RefreshToken) -> None:
        with self._guarded(conflict="refresh token already exists"):
            self._session.add(
                RefreshTokenRow(
                    id=token.id,
                    family_id=token.family_id,
                    token_hash=token.token_hash,
                    principal_id=token.principal_id,
                    tenant_id=token.tenant_id,
                    amr=list(token.amr),
                    acr=token.acr,
                    auth_time=token.auth_time,
                    family_started=token.family_started,
                    dpop_jkt=token.dpop_jkt,
                    client_id=token.client_id,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    rotated_at=token.rotated_at,
                    revoked_at=token.revoked_at,
                )
            )

    def by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        row = self._first(
            select(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == token_hash)
            .with_for_update()
        )
        return None if row is None else _refresh_token(row)

    def mark_rotated(self, token_id: str, at: datetime) -> None:
        self._rowcount(
            update(RefreshTokenRow).where(RefreshTokenRow.id == token_id).values(rotated_at=at)
        )

    def revoke_family(self, family_id: str, at: datetime) -> int:
        return self._revoke(RefreshTokenRow.family_id == family_id, at)

    def revoke_for_principal(self, tenant_id: str | None, principal_id: str, at: datetime) -> int:
        owner = (
            RefreshTokenRow.tenant_id.is_(None)
            if tenant_id is None
            else RefreshTokenRow.tenant_id == tenant_id
        )
        return self._revoke(owner & (RefreshTokenRow.principal_id == principal_id), at)

    def revoke_for_tenant(self, tenant_id: str, at: datetime) -> int:
        return self._revoke(RefreshTokenRow.tenant_id == tenant_id, at)

    def purge_ended(self, before: datetime, limit: int) -> int:
        """Delete tokens whose family ended (expired or revoked) before *before*.

        Rotated tokens of a family that may still be live are kept: they are
        how a replayed refresh token is recognised as reuse (and its family
        revoked). The caller picks *before* a full refresh lifetime back.
        """
        ended = or_(RefreshTokenRow.expires_at < before, RefreshTokenRow.revoked_at < before)
        return self._delete_where(RefreshTokenRow, ended, limit)

    def _revoke(self, condition: object, at: datetime) -> int:
        return self._rowcount(
            update(RefreshTokenRow)
            .where(condition, RefreshTokenRow.revoked_at.is_(None))  # type: ignore[arg-type]
            .values(revoked_at=at)
        )


class SqlRevocationRepository(Repository):
    def raise_watermark(self, scope: RevocationScope, subject_id: str, not_before: int) -> None:
        try:
            with self._guarded(conflict="watermark exists"):
                self._session.add(
                    RevocationWatermarkRow(
                        scope=scope.value, subject_id=subject_id, not_before=not_before
                    )
                )
        except Conflict:  # already set: only ever move it later
            self._rowcount(
                update(RevocationWatermarkRow)
                .where(
                    RevocationWatermarkRow.scope == scope.value,
                    RevocationWatermarkRow.subject_id == subject_id,
                    RevocationWatermarkRow.not_before < not_before,
                )
                .values(not_before=not_before)
            )

    def not_before(self, tenant_id: str | None, principal_id: str) -> int | None:
        subjects = [(RevocationScope.PRINCIPAL.value, principal_id)]
        if tenant_id is not None:
            subjects.append((RevocationScope.TENANT.value, tenant_id))
        conditions = [
            (RevocationWatermarkRow.scope == scope) & (RevocationWatermarkRow.subject_id == sid)
            for scope, sid in subjects
        ]
        marks = self._all(select(RevocationWatermarkRow.not_before).where(or_(*conditions)))
        return max(marks, default=None)

    def deny(self, jti: str, owner: str, expires_at: datetime) -> None:
        try:
            with self._guarded(conflict="already denied"):
                self._session.add(RevokedTokenRow(jti=jti, owner=owner, expires_at=expires_at))
        except Conflict:
            pass  # revoking twice is not an error

    def is_denied(self, jti: str, tenant_id: str | None) -> bool:
        owners = [PLATFORM_OWNER] if tenant_id is None else [PLATFORM_OWNER, tenant_id]
        found = self._first(
            select(RevokedTokenRow.jti).where(
                RevokedTokenRow.jti == jti, RevokedTokenRow.owner.in_(owners)
            )
        )
        return found is not None

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        return self._delete_where(RevokedTokenRow, RevokedTokenRow.expires_at < now, limit)

    def find_principal(self, principal_id: str) -> Principal | None:
        row = self._first(select(PrincipalRow).where(PrincipalRow.id == principal_id))
        return None if row is None else principal_of(row)


def _refresh_token(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        family_id=row.family_id,
        token_hash=row.token_hash,
        principal_id=row.principal_id,
        tenant_id=row.tenant_id,
        amr=tuple(row.amr),
        acr=row.acr,
        auth_time=row.auth_time,
        family_started=row.family_started,
        dpop_jkt=row.dpop_jkt,
        client_id=row.client_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
        revoked_at=row.revoked_at,
    )
