"""Revocation: cut off a token, a principal or a whole tenant on the next request.

Two mechanisms for people and services, both checked by `check_not_revoked`
inside the one token check (`Authenticator`), and by refresh:

* *watermarks*: "not valid before" per principal and per tenant. Every
  access token issued up to and including the second of the revocation is
  refused, and so is every refresh-token family that started before it
  (their rows are also marked revoked at once). The price of one-second
  token timestamps is that a fresh login within that same second is
  refused too; that is the safe side to err on.
* a *jti deny-list* for single tokens (logout, one leaked token), each
  entry kept only as long as the token could still be valid.

Workers of the execution plane (a compromised worker host) are cut off by
disabling their registration: every internal-API request re-reads the
worker, so its current token fails on the next request, and its key buys
no new token. The job it holds is not lost: its lease is no longer renewed
and the sweeper re-queues the job when the lease expires.

Who may revoke: a tenant admin any principal of its own tenant (another
tenant's answers 404); any principal itself ("log out everywhere") and its
current token (logout); operators — and the server-side CLI — any
principal, any token, whole tenants and workers (an operator with a recent
MFA, as for registering one). Every revocation is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qplane.broker.auditing import audit
from qplane.domain.errors import NotFound, Unauthenticated, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.sessions import RevocationScope
from qplane.domain.tenancy import Principal, PrincipalKind
from qplane.identity.sessions import refresh_token_digest
from qplane.identity.tokens import AccessClaims
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer, tenant_facts
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import PrincipalFacts, WorkerFacts

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
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._deny_ttl_s = deny_ttl_s
        self._clock = clock

    def revoke_principal(self, actor: Actor | None, principal_id: str) -> Revocation:
        """Every current token and session of *principal_id* stops working."""
        with self._uow() as uow:
            principal = uow.revocations.find_principal(principal_id)
            if principal is None:
                raise NotFound("principal not found")
            if actor is not None:
                self._authz.authorize(
                    uow,
                    actor,
                    Action.SESSION_REVOKE,
                    _target(uow, principal),
                    missing="principal not found",
                )
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
        if actor is not None:
            self._authz.on_tenant(actor, Action.SESSION_REVOKE, tenant_id)
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            mark = self._watermark()
            uow.revocations.raise_watermark(RevocationScope.TENANT, tenant_id, mark)
            ended = uow.refresh_tokens.revoke_for_tenant(tenant_id, self._now())
            self._audit(uow, actor, tenant_id, "tenant", tenant_id, ended)
            uow.commit()
        return Revocation(RevocationScope.TENANT, tenant_id, mark, ended)

    def revoke_worker(self, actor: Actor | None, worker_id: str) -> Revocation:
        """Disable a worker: its token fails on the next request and it gets no new one.

        Operators only, with a recent MFA (it takes a part of the execution
        plane away); `NotFound` for an unknown worker. Revoking twice is not
        an error.
        """
        if actor is not None:
            self._authz.on(actor, Action.WORKER_REVOKE, WorkerFacts(worker_id, frozenset()))
        with self._uow() as uow:
            uow.workers.disable(worker_id)
            self._audit(uow, actor, None, "worker", worker_id, 0)
            uow.commit()
        return Revocation(RevocationScope.WORKER, worker_id, None, 0)

    def revoke_token(self, actor: Actor | None, jti: str) -> Revocation:
        """Deny-list one access token by its jti (tenant admins: tokens of their tenant)."""
        if not jti or len(jti) > 64 or not jti.isascii() or not jti.isprintable():
            raise ValidationFailed("jti must be 1-64 printable characters", field="id")
        if actor is None:
            return self._deny(actor, jti, PLATFORM_OWNER, None)
        if actor.token_jti == jti:  # one's own token: decided on oneself
            self._decide_on_self(actor)
            return self._deny(actor, jti, actor.tenant_id or PLATFORM_OWNER, actor.tenant_id)
        # Another's token: within the caller's tenant, or platform-wide for operators.
        self._authz.on_tenant(actor, Action.TOKEN_REVOKE)
        owner = actor.tenant_id or PLATFORM_OWNER
        return self._deny(actor, jti, owner, actor.tenant_id)

    def logout(self, actor: Actor, refresh_token: str | None = None) -> Revocation:
        """Revoke the caller's current access token and, if given, its session's refresh family."""
        if actor.token_jti is None:
            raise ValidationFailed("this credential cannot be logged out; revoke it instead")
        self._decide_on_self(actor)
        ended = 0
        if refresh_token:
            ended = self._end_own_session(actor, refresh_token)
        done = self._deny(
            actor, actor.token_jti, actor.tenant_id or PLATFORM_OWNER, actor.tenant_id
        )
        return Revocation(done.scope, done.subject_id, None, ended)

    def _decide_on_self(self, actor: Actor) -> None:
        with self._uow() as uow:
            found = uow.revocations.find_principal(actor.principal_id)
            if found is None:
                raise NotFound("principal not found")
            self._authz.authorize(uow, actor, Action.TOKEN_REVOKE, _target(uow, found))

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
        audit(
            uow,
            actor,
            f"revocation.{scope}",
            tenant_id=tenant_id,
            target=subject,
            detail=f"revoked by {who}; {refresh_ended} refresh tokens ended",
        )


def _target(uow: UnitOfWork, principal: Principal) -> PrincipalFacts:
    """The principal whose sessions end, as the policies see it."""
    tenant = (
        None if principal.tenant_id is None else tenant_facts(uow.tenants.get(principal.tenant_id))
    )
    return PrincipalFacts(
        principal.id,
        PrincipalKind(principal.kind),
        tenant,
        frozenset(role.value for role in principal.roles),
    )
