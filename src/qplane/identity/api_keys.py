"""Legacy static API keys: off by default, one project, short-lived, hashed, audited.

qplane prefers short-lived workload identities; these exist only for a
legacy client an operator has explicitly allowed (``QPLANE_API_KEYS_ENABLED``).
Security properties:

* none exist by default, none can be created — or used — while the operator
  setting is off;
* a key is ``qpk_<id>_<secret>`` with a 256-bit secret, shown once at
  creation and stored only as its SHA-256 digest, compared in constant time
  (unknown ids are compared against a dummy digest too);
* it acts as its own service identity, limited to one project and to the
  ``member`` or ``viewer`` role (never an admin), and expires (at most
  `Settings.api_key_max_ttl_days`);
* every use is audited; revoking it, or revoking its tenant, ends it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from qplane.audit.actors import API_KEY_AUTH, ActorFacts, actor_facts, source_address
from qplane.audit.log import record
from qplane.domain import ids
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Forbidden, Unauthenticated, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.sessions import ApiKey
from qplane.domain.tenancy import PrincipalKind, Role, validate_slug
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine

API_KEY_PREFIX: Final = "qpk_"
_KEY: Final = ids.API_KEY
_ALLOWED_ROLES: Final = frozenset({Role.MEMBER.value, Role.VIEWER.value})
_DUMMY_DIGEST: Final = hashlib.sha256(b"qplane-no-such-key").hexdigest()
_REFUSAL: Final = "api key invalid"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeyService:
    """Creates, lists, revokes and resolves legacy API keys."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        enabled: bool,
        max_ttl_days: int,
        clock: Callable[[], float] = time.time,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._enabled = enabled
        self._max_ttl_days = max_ttl_days
        self._clock = clock

    def create(
        self, actor: Actor, project_id: str, name: str, roles: Iterable[str], ttl_days: int
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret exists outside the caller)."""
        tenant_id = self._admin_tenant(actor)
        validate_slug(name, "name")
        granted = frozenset(roles)
        if not granted or not granted <= _ALLOWED_ROLES:
            raise ValidationFailed("an API key may hold only member or viewer", field="roles")
        if not 1 <= ttl_days <= self._max_ttl_days:
            raise ValidationFailed(
                f"ttl_days must be between 1 and {self._max_ttl_days}", field="ttl_days"
            )
        now = self._now()
        key_id = ids.new_id(_KEY)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            project_id=project_id,
            name=name,
            roles=granted,
            secret_hash=_digest(secret),
            created_by=actor.principal_id,
            created_at=now,
            expires_at=now + timedelta(days=ttl_days),
        )
        with self._uow() as uow:
            uow.projects.get(tenant_id, project_id)  # another tenant's project: 404
            uow.api_keys.add(key)
            _audit(uow, tenant_id, actor_facts(actor), "api_key.create", key_id)
            uow.commit()
        return key, f"{API_KEY_PREFIX}{key_id.removeprefix(_KEY + '_')}_{secret}"

    def list_keys(self, actor: Actor) -> list[ApiKey]:
        tenant_id = self._admin_tenant(actor, creating=False)
        with self._uow() as uow:
            return uow.api_keys.for_tenant(tenant_id)

    def revoke(self, actor: Actor, key_id: str) -> None:
        """Revoking needs no operator setting: turning keys off must never block ending one."""
        tenant_id = self._admin_tenant(actor, creating=False)
        with self._uow() as uow:
            uow.api_keys.revoke(tenant_id, key_id, self._now())
            _audit(uow, tenant_id, actor_facts(actor), "api_key.revoke", key_id)
            uow.commit()

    def resolve(
        self, presented: str, *, request_id: str | None = None, source_ip: str | None = None
    ) -> Actor:
        """The project-limited actor behind *presented*; every use is audited."""
        if not self._enabled:
            raise Unauthenticated("api keys are disabled")
        key_id, secret = _parse(presented)
        with self._uow() as uow:
            key = uow.api_keys.by_id(key_id) if key_id else None
            stored = key.secret_hash if key is not None else _DUMMY_DIGEST
            if not hmac.compare_digest(stored, _digest(secret)) or key is None:
                raise Unauthenticated(_REFUSAL)
            self._check_live(uow, key)
            uow.api_keys.touch(key.id, self._now())
            user = ActorFacts(
                key.id,
                PrincipalKind.SERVICE.value,
                API_KEY_AUTH,
                source_address(source_ip),
                request_id,
            )
            _audit(uow, key.tenant_id, user, "api_key.use", key.project_id)
            uow.commit()
        return Actor(
            principal_id=key.id,
            kind=PrincipalKind.SERVICE,
            tenant_id=key.tenant_id,
            roles=frozenset(Role(role) for role in key.roles),
            request_id=request_id,
            source_ip=source_ip,
            project_id=key.project_id,
        )

    def _check_live(self, uow: UnitOfWork, key: ApiKey) -> None:
        if key.revoked_at is not None:
            raise Unauthenticated("api key revoked")
        if key.expires_at <= self._now():
            raise Unauthenticated("api key expired")
        watermark = uow.revocations.not_before(key.tenant_id, key.id)
        if watermark is not None and key.created_at.timestamp() < watermark:
            raise Unauthenticated("api key revoked")

    def _admin_tenant(self, actor: Actor, *, creating: bool = True) -> str:
        if creating and not self._enabled:
            raise Forbidden("API keys are disabled on this platform")
        if actor.tenant_id is None:
            raise Forbidden("API keys are managed by a tenant admin")
        self._authz.on_tenant(actor, Action.API_KEY_MANAGE, actor.tenant_id)
        return actor.tenant_id

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _parse(presented: str) -> tuple[str, str]:
    """(key id, secret), or ("", "") for anything not shaped like a key."""
    body = presented.removeprefix(API_KEY_PREFIX)
    hex_id, _, secret = body.partition("_")
    key_id = f"{_KEY}_{hex_id}"
    if not ids.is_well_formed(key_id, _KEY) or not secret or len(secret) > 128:
        return "", secret[:128]
    return key_id, secret


def _audit(uow: UnitOfWork, tenant_id: str, actor: ActorFacts, action: str, target: str) -> None:
    record(
        uow,
        AuditEvent(
            action,
            Outcome.SUCCESS,
            tenant_id,
            actor.actor_id,
            target,
            actor.request_id,
            None,
            actor_kind=actor.actor_kind,
            auth_method=actor.auth_method,
            source_ip=actor.source_ip,
        ),
    )
