"""Sessions: an access token for a principal, and opaque refresh tokens that rotate.

Every login flow (password, OIDC, SAML, device grant, MFA step-up) ends in
`SessionService.start`; `SessionService.refresh` is the only way to extend
a session. Security properties:

* a refresh token is 256 random bits, returned once and stored only as its
  SHA-256 digest, so the database cannot be used to act as anyone;
* it is bound to its principal, tenant, family and (if given) DPoP key
  thumbprint, and is single-use: each refresh returns a new one;
* presenting a refresh token that was already rotated is treated as theft:
  the whole family is revoked and the event is audited;
* a family ends ``refresh_ttl_s`` after login however often it rotates, and
  a revocation watermark of the principal or tenant ends it at once;
* roles come from the principal's current record on every refresh.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from qplane.audit.actors import auth_method_of
from qplane.audit.log import record
from qplane.domain import ids
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.sessions import RefreshToken
from qplane.domain.tenancy import Principal
from qplane.identity.tokens import AccessClaims, TokenIssuer

REFRESH_PREFIX: Final = "qprt_"
_REFRESH_BYTES: Final = 32  # 256 bits
_FAMILY: Final = "rtf"
_TOKEN: Final = "rtk"
_REFUSAL: Final = "refresh token invalid"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh returns: an access token and, usually, a refresh token."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    refresh_token: str | None = field(repr=False)
    claims: AccessClaims


def refresh_token_digest(token: str) -> str:
    """The stored form of a refresh token (hex SHA-256; the token has 256 bits of entropy)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionService:
    """Starts sessions and rotates their refresh tokens."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        issuer: TokenIssuer,
        refresh_ttl_s: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh_ttl_s <= 0:
            raise ValueError("refresh_ttl_s must be positive")
        self._uow = uow_factory
        self._issuer = issuer
        self._refresh_ttl_s = refresh_ttl_s
        self._clock = clock

    def start(
        self,
        principal: Principal,
        *,
        amr: Sequence[str],
        acr: str,
        auth_time: int | None = None,
        dpop_jkt: str | None = None,
        client_id: str | None = None,
        with_refresh: bool = True,
        request_id: str | None = None,
    ) -> TokenPair:
        """Issue the first tokens of a session for an already-authenticated *principal*.

        The caller has verified the credentials; this refuses only a disabled
        principal. The start is audited in the principal's tenant chain.
        """
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        now = int(self._clock())
        auth_at = now if auth_time is None else auth_time
        token, claims = self._issue(principal, amr, acr, auth_at, dpop_jkt, client_id)
        refresh: str | None = None
        with self._uow() as uow:
            family = ids.new_id(_FAMILY)
            if with_refresh:
                refresh = self._store_new(
                    uow,
                    principal,
                    family,
                    claims,
                    family_started=now,
                    expires_at=_at(now + self._refresh_ttl_s),
                )
            detail = f"token {claims.jti} issued; amr={','.join(claims.amr)}"
            _audit(uow, principal, claims.amr, "auth.session.start", request_id, detail)
            uow.commit()
        return _pair(token, claims, refresh)

    def refresh(
        self, refresh_token: str, *, dpop_jkt: str | None = None, request_id: str | None = None
    ) -> TokenPair:
        """Rotate *refresh_token*: the presented one is spent, a new pair is returned.

        Raises `Unauthenticated` for an unknown, expired, revoked or
        wrongly-bound token; a token already rotated revokes its family first.
        """
        digest = refresh_token_digest(refresh_token)
        with self._uow() as uow:
            stored = uow.refresh_tokens.by_hash_for_update(digest)
            if stored is None:
                raise Unauthenticated(_REFUSAL)
            principal = self._check_usable(uow, stored, dpop_jkt, request_id)
            token, claims = self._issue(
                principal,
                stored.amr,
                stored.acr,
                stored.auth_time,
                stored.dpop_jkt,
                stored.client_id,
            )
            uow.refresh_tokens.mark_rotated(stored.id, _at(self._clock()))
            new = self._store_new(
                uow,
                principal,
                stored.family_id,
                claims,
                family_started=stored.family_started,
                expires_at=stored.expires_at,
            )
            detail = f"token {claims.jti} issued; family {stored.family_id}"
            _audit(uow, principal, claims.amr, "auth.session.refresh", request_id, detail)
            uow.commit()
        return _pair(token, claims, new)

    def _check_usable(
        self, uow: UnitOfWork, stored: RefreshToken, dpop_jkt: str | None, request_id: str | None
    ) -> Principal:
        now = _at(self._clock())
        if stored.rotated_at is not None:
            self._end_family(uow, stored, now, request_id, "refresh token reused; session revoked")
        if stored.revoked_at is not None:
            raise Unauthenticated("refresh token revoked")
        if stored.expires_at <= now:
            raise Unauthenticated("refresh token expired")
        if stored.dpop_jkt is not None and not secrets.compare_digest(
            stored.dpop_jkt, dpop_jkt or ""
        ):
            raise Unauthenticated("refresh token is bound to another key")
        watermark = uow.revocations.not_before(stored.tenant_id, stored.principal_id)
        if watermark is not None and stored.family_started < watermark:
            self._end_family(uow, stored, now, request_id, "refresh token revoked")
        try:
            principal = uow.principals.get(stored.tenant_id, stored.principal_id)
        except NotFound:
            raise Unauthenticated("principal no longer exists") from None
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        return principal

    def _end_family(
        self, uow: UnitOfWork, stored: RefreshToken, now: datetime, request_id: str | None, why: str
    ) -> None:
        """Revoke the family and record why, committed before the refusal is raised."""
        uow.refresh_tokens.revoke_family(stored.family_id, now)
        record(
            uow,
            AuditEvent(
                "auth.session.revoke",
                Outcome.DENIED,
                stored.tenant_id,
                stored.principal_id,
                stored.family_id,
                request_id,
                why,
                auth_method=auth_method_of(stored.amr),
            ),
        )
        uow.commit()
        raise Unauthenticated(why)

    def _issue(
        self,
        principal: Principal,
        amr: Sequence[str],
        acr: str,
        auth_time: int,
        dpop_jkt: str | None,
        client_id: str | None,
    ) -> tuple[str, AccessClaims]:
        return self._issuer.issue(
            subject=principal.id,
            tenant=principal.tenant_id,
            roles=frozenset(role.value for role in principal.roles),
            kind=principal.kind.value,
            amr=amr,
            acr=acr,
            auth_time=auth_time,
            cnf_jkt=dpop_jkt,
            client_id=client_id,
        )

    def _store_new(
        self,
        uow: UnitOfWork,
        principal: Principal,
        family: str,
        claims: AccessClaims,
        *,
        family_started: int,
        expires_at: datetime,
    ) -> str:
        secret = REFRESH_PREFIX + secrets.token_urlsafe(_REFRESH_BYTES)
        uow.refresh_tokens.add(
            RefreshToken(
                id=ids.new_id(_TOKEN),
                family_id=family,
                token_hash=refresh_token_digest(secret),
                principal_id=principal.id,
                tenant_id=principal.tenant_id,
                amr=claims.amr,
                acr=claims.acr,
                auth_time=claims.auth_time,
                family_started=family_started,
                dpop_jkt=claims.cnf_jkt,
                client_id=claims.client_id,
                created_at=_at(self._clock()),
                expires_at=expires_at,
            )
        )
        return secret


def _pair(token: str, claims: AccessClaims, refresh: str | None) -> TokenPair:
    # RFC 9449 §5: a key-bound access token is issued with token_type "DPoP".
    token_type = "DPoP" if claims.cnf_jkt else "Bearer"
    return TokenPair(token, token_type, claims.exp - claims.iat, refresh, claims)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _audit(
    uow: UnitOfWork,
    principal: Principal,
    amr: Sequence[str],
    action: str,
    request_id: str | None,
    detail: str,
) -> None:
    record(
        uow,
        AuditEvent(
            action,
            Outcome.SUCCESS,
            principal.tenant_id,
            principal.id,
            principal.id,
            request_id,
            detail,
            actor_kind=principal.kind.value,
            auth_method=auth_method_of(tuple(amr)),
        ),
    )
