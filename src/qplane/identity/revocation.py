"""Revocation: cut off a token, a principal or a whole tenant on the next request.

Two mechanisms, both checked by `check_not_revoked` inside the one token
check (`Authenticator`), and by refresh:

* *watermarks*: "not valid before" per principal and per tenant. Every
  access token issued up to and including the second of the revocation is
  refused, and so is every refresh-token family that started before it
  (their rows are also marked revoked at once). The price of one-second
  token timestamps is that a fresh login within that same second is
  refused too; that is the safe side to err on.
* a *jti deny-list* for single tokens (logout, one leaked token), each
  entry kept only as long as the token could still be valid.

Who may revoke: a tenant admin any principal of its own tenant (another
tenant's answers 404); any principal itself ("log out everywhere") and its
current token (logout); operators — and the server-side CLI — any
principal, any token and whole tenants. Every revocation is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.sessions import RevocationScope
from qplane.domain.tenancy import Role
from qplane.identity.sessions import refresh_token_digest
from qplane.identity.tokens import AccessClaims
from qplane.policy.actor import Actor

PLATFORM_OWNER = "platform"


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a revocation did: its scope, subject and the watermark it set (if any)."""

    scope: RevocationScope
    subject_id: str
    not_before: int | None
    refresh_tokens_revoked: int


def check_not_revoked(uow: UnitOfWork, claims: AccessClaims) -> None:
    """Raise `Unauthenticated` if *claims* were revoked by jti, principal or tenant."""
    if uow.revocations.is_denied(claims.jti, claims.tenant):
        raise Unauthenticated("token revoked")
    watermark = uow.revocations.not_before(claims.tenant, claims.sub)
    if watermark is not None and claims.iat < watermark:
        raise Unauthenticated("token revoked")


class RevocationService:
    """Records revocations; *actor* None is the operator's CLI on the server itself."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        deny_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._deny_ttl_s = deny_ttl_s
        self._clock = clock

    def revoke_principal(self, actor: Actor | None, principal_id: str) -> Revocation:
        """Every current token and session of *principal_id* stops working."""
        _refuse_api_keys(actor)
        with self._uow() as uow:
            principal = uow.revocations.find_principal(principal_id)
            if principal is None or not _may_revoke_principal(
                actor, principal.tenant_id, principal_id
            ):
                raise NotFound("principal not found")
            if not _may_end_others(actor, principal.tenant_id, principal_id):
                raise Forbidden("only a tenant admin may revoke another principal")
            mark = self._watermark()
            uow.revocations.raise_watermark(RevocationScope.PRINCIPAL, principal_id, mark)
            ended = uow.refresh_tokens.revoke_for_principal(
                principal.tenant_id, principal_id, self._now()
            )
            self._audit(uow, actor, principal.tenant_id, "principal", principal_id, ended)
            uow.commit()
        return Revocation(RevocationScope.PRINCIPAL, principal_id, mark, ended)

    def revoke_tenant(self, actor: Actor | None, tenant_id: str) -> Revocation:
        """Every token, session and API key of the tenant stops working (operators only)."""
        if actor is not None and not actor.is_operator:
            raise Forbidden("only an operator may revoke a whole tenant")
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            mark = self._watermark()
            uow.revocations.raise_watermark(RevocationScope.TENANT, tenant_id, mark)
            ended = uow.refresh_tokens.revoke_for_tenant(tenant_id, self._now())
            self._audit(uow, actor, tenant_id, "tenant", tenant_id, ended)
            uow.commit()
        return Revocation(RevocationScope.TENANT, tenant_id, mark, ended)

    def revoke_token(self, actor: Actor | None, jti: str) -> Revocation:
        """Deny-list one access token by its jti (tenant admins: tokens of their tenant)."""
        _refuse_api_keys(actor)
        if not jti or len(jti) > 64 or not jti.isascii() or not jti.isprintable():
            raise ValidationFailed("jti must be 1-64 printable characters", field="id")
        if actor is None or actor.is_operator:
            owner, tenant_id = PLATFORM_OWNER, None
        elif actor.tenant_id is not None and Role.TENANT_ADMIN in actor.roles:
            owner, tenant_id = actor.tenant_id, actor.tenant_id
        elif actor.token_jti == jti:
            owner, tenant_id = actor.tenant_id or PLATFORM_OWNER, actor.tenant_id
        else:
            raise Forbidden("only a tenant admin may revoke another principal's token")
        return self._deny(actor, jti, owner, tenant_id)

    def logout(self, actor: Actor, refresh_token: str | None = None) -> Revocation:
        """Revoke the caller's current access token and, if given, its session's refresh family."""
        if actor.token_jti is None:
            raise ValidationFailed("this credential cannot be logged out; revoke it instead")
        ended = 0
        if refresh_token:
            ended = self._end_own_session(actor, refresh_token)
        done = self._deny(
            actor, actor.token_jti, actor.tenant_id or PLATFORM_OWNER, actor.tenant_id
        )
        return Revocation(done.scope, done.subject_id, None, ended)

    def purge_expired(self) -> int:
        """Drop deny-list entries whose tokens have expired anyway."""
        with self._uow() as uow:
            purged = uow.revocations.purge_expired(self._now())
            uow.commit()
        return purged

    def _end_own_session(self, actor: Actor, refresh_token: str) -> int:
        with self._uow() as uow:
            stored = uow.refresh_tokens.by_hash_for_update(refresh_token_digest(refresh_token))
            if stored is None or stored.principal_id != actor.principal_id:
                raise NotFound("session not found")  # never ends someone else's session
            ended = uow.refresh_tokens.revoke_family(stored.family_id, self._now())
            uow.commit()
        return ended

    def _deny(self, actor: Actor | None, jti: str, owner: str, tenant_id: str | None) -> Revocation:
        expires = datetime.fromtimestamp(self._clock() + self._deny_ttl_s, UTC)
        with self._uow() as uow:
            uow.revocations.purge_expired(self._now())  # keeps the deny-list short
            uow.revocations.deny(jti, owner, expires)
            self._audit(uow, actor, tenant_id, "token", jti, 0)
            uow.commit()
        return Revocation(RevocationScope.TOKEN, jti, None, 0)

    def _watermark(self) -> int:
        # Tokens carry whole seconds: refuse the whole current second.
        return int(self._clock()) + 1

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor | None,
        tenant_id: str | None,
        scope: str,
        subject: str,
        refresh_ended: int,
    ) -> None:
        who = "operator console" if actor is None else actor.principal_id
        record(
            uow,
            AuditEvent(
                f"revocation.{scope}",
                Outcome.SUCCESS,
                tenant_id,
                None if actor is None else actor.principal_id,
                subject,
                None if actor is None else actor.request_id,
                f"revoked by {who}; {refresh_ended} refresh tokens ended",
            ),
        )


def _refuse_api_keys(actor: Actor | None) -> None:
    if actor is not None and actor.project_id is not None:
        raise Forbidden("API keys cannot revoke credentials")


def _may_end_others(actor: Actor | None, tenant_id: str | None, principal_id: str) -> bool:
    """Admins of the principal's tenant, operators and the principal itself."""
    if actor is None or actor.is_operator or actor.principal_id == principal_id:
        return True
    return (
        tenant_id is not None and actor.tenant_id == tenant_id and Role.TENANT_ADMIN in actor.roles
    )


def _may_revoke_principal(actor: Actor | None, tenant_id: str | None, principal_id: str) -> bool:
    """False hides the principal entirely (404): it is not in the caller's tenant."""
    if actor is None or actor.is_operator:
        return True
    return actor.tenant_id is not None and actor.tenant_id == tenant_id
