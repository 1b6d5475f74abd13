"""Tenant administration of identity providers: register, list, read, change, remove.

Security properties:

* Only a tenant admin of that tenant acts here (`Action.IDP_READ` /
  `Action.IDP_MANAGE`); another tenant's provider answers `NotFound`.
  Changes are privileged (``idp.manage`` is in the policy schema's privileged
  group): the decision point asks for a recent MFA (step-up).
* The client secret is sealed under the tenant's key before it reaches the
  store and is never returned, logged or audited (the audit entry carries
  only its keyed digest, `qplane.audit.correlation`); `IdentityProvider`
  does not even have a field for it.
* Mappings grant only tenant roles and only projects of the same tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qplane.audit.correlation import Correlator
from qplane.broker.auditing import audit
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.oidc import (
    IDENTITY_PROVIDER,
    TOKEN_AUTH_METHODS,
    IdentityProvider,
    ProjectMapping,
    RoleMapping,
    check_mapping_count,
    normalise_domains,
)
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import TENANT_ROLES, validate_slug
from qplane.identity.oidc.discovery import check_issuer_url
from qplane.identity.oidc.sealing import seal_client_secret
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine

_TENANT_ROLES = frozenset(role.value for role in TENANT_ROLES)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What an admin supplies; on update, None leaves a setting unchanged."""

    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    allowed_domains: Sequence[str] | None = None
    role_mappings: Sequence[RoleMapping] | None = None
    project_mappings: Sequence[ProjectMapping] | None = None
    token_auth_method: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"ProviderSettings(name={self.name!r}, issuer={self.issuer!r}, client_secret=***)"


class ProviderRegistry:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keys: KeyHierarchy,
        *,
        allow_http: bool = False,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._keys = keys
        self._correlate = Correlator(keys)
        self._allow_http = allow_http

    def register(self, actor: Actor, tenant_id: str, new: ProviderSettings) -> IdentityProvider:
        """Register a provider; every setting is required, the secret is sealed."""
        self._authorize_change(actor, tenant_id)
        if not (new.name and new.issuer and new.client_id and new.client_secret):
            raise ValidationFailed("name, issuer, client_id and client_secret are required")
        now = utcnow()
        provider = IdentityProvider(
            id=ids.new_id(IDENTITY_PROVIDER),
            tenant_id=tenant_id,
            name=validate_slug(new.name, "name"),
            issuer=check_issuer_url(new.issuer, allow_http=self._allow_http),
            client_id=_client_id(new.client_id),
            allowed_domains=normalise_domains(new.allowed_domains or ()),
            role_mappings=_role_mappings(new.role_mappings or ()),
            project_mappings=(),
            created_at=now,
            updated_at=now,
            token_auth_method=_auth_method(new.token_auth_method),
        )
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            if uow.oidc_providers.by_name(tenant_id, provider.name) is not None:
                raise Conflict("an identity provider with this name already exists")
            provider = replace(
                provider, project_mappings=_project_mappings(uow, tenant_id, new.project_mappings)
            )
            secret = _secret(new.client_secret)
            sealed = seal_client_secret(self._keys, uow, tenant_id, provider.id, secret)
            uow.oidc_providers.add(provider, sealed)
            audit(
                uow,
                actor,
                "idp.register",
                tenant_id=tenant_id,
                target=provider.id,
                detail=f"{provider.name} issuer={provider.issuer}",
                correlations=self._secret_digest(uow, tenant_id, secret),
            )
            uow.commit()
        return provider

    def list(self, actor: Actor, tenant_id: str) -> list[IdentityProvider]:
        self._authz.on_tenant(actor, Action.IDP_READ, tenant_id)
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            return uow.oidc_providers.for_tenant(tenant_id)

    def get(self, actor: Actor, tenant_id: str, provider_id: str) -> IdentityProvider:
        self._authz.on_tenant(actor, Action.IDP_READ, tenant_id)
        with self._uow() as uow:
            return uow.oidc_providers.get(tenant_id, provider_id)

    def update(
        self, actor: Actor, tenant_id: str, provider_id: str, changes: ProviderSettings
    ) -> IdentityProvider:
        """Apply the settings given; a new secret replaces the sealed one."""
        self._authorize_change(actor, tenant_id)
        with self._uow() as uow:
            current = uow.oidc_providers.get(tenant_id, provider_id)
            updated = self._changed(uow, current, changes)
            sealed = None
            digest: tuple[tuple[str, str], ...] = ()
            if changes.client_secret is not None:
                secret = _secret(changes.client_secret)
                sealed = seal_client_secret(self._keys, uow, tenant_id, provider_id, secret)
                digest = self._secret_digest(uow, tenant_id, secret)
            uow.oidc_providers.update(updated, sealed)
            what = "settings" + (" and client secret" if sealed is not None else "")
            audit(
                uow,
                actor,
                "idp.update",
                tenant_id=tenant_id,
                target=provider_id,
                detail=f"{updated.name}: {what} changed",
                correlations=digest,
            )
            uow.commit()
        return updated

    def remove(self, actor: Actor, tenant_id: str, provider_id: str) -> None:
        """Remove a provider; its pending logins die with it. Linked users stay, unable to SSO."""
        self._authorize_change(actor, tenant_id)
        with self._uow() as uow:
            uow.oidc_providers.delete(tenant_id, provider_id)
            audit(uow, actor, "idp.remove", tenant_id=tenant_id, target=provider_id)
            uow.commit()

    def _authorize_change(self, actor: Actor, tenant_id: str) -> None:
        self._authz.on_tenant(actor, Action.IDP_MANAGE, tenant_id)

    def _secret_digest(
        self, uow: UnitOfWork, tenant_id: str, secret: str
    ) -> tuple[tuple[str, str], ...]:
        """The secret's keyed digest: shows a reused secret without ever showing the secret."""
        return self._correlate.digests(uow, tenant_id, [("client_secret", secret.encode())])

    def _changed(
        self, uow: UnitOfWork, current: IdentityProvider, changes: ProviderSettings
    ) -> IdentityProvider:
        updated = current
        if changes.name is not None:
            updated = replace(updated, name=validate_slug(changes.name, "name"))
        if changes.issuer is not None:
            issuer = check_issuer_url(changes.issuer, allow_http=self._allow_http)
            updated = replace(updated, issuer=issuer)
        if changes.token_auth_method is not None:
            method = _auth_method(changes.token_auth_method)
            updated = replace(updated, token_auth_method=method)
        if changes.client_id is not None:
            updated = replace(updated, client_id=_client_id(changes.client_id))
        if changes.allowed_domains is not None:
            updated = replace(updated, allowed_domains=normalise_domains(changes.allowed_domains))
        if changes.role_mappings is not None:
            updated = replace(updated, role_mappings=_role_mappings(changes.role_mappings))
        if changes.project_mappings is not None:
            mapped = _project_mappings(uow, current.tenant_id, changes.project_mappings)
            updated = replace(updated, project_mappings=mapped)
        return replace(updated, updated_at=utcnow())


def _client_id(value: str) -> str:
    if not 0 < len(value) <= 255 or not value.isprintable():
        raise ValidationFailed("client_id must be 1-255 printable characters", field="client_id")
    return value


def _auth_method(value: str | None) -> str | None:
    if value is not None and value not in TOKEN_AUTH_METHODS:
        raise ValidationFailed(
            "token_auth_method must be client_secret_basic or client_secret_post",
            field="token_auth_method",
        )
    return value


def _secret(value: str) -> str:
    if not 0 < len(value) <= 1024:
        raise ValidationFailed("client_secret must be 1-1024 characters", field="client_secret")
    return value


def _role_mappings(mappings: Sequence[RoleMapping]) -> tuple[RoleMapping, ...]:
    check_mapping_count(len(mappings), "role_mappings")
    for mapping in mappings:
        _check_claim(mapping.claim, mapping.value, "role_mappings")
        unknown = set(mapping.roles) - _TENANT_ROLES
        if not mapping.roles or unknown:
            raise ValidationFailed(
                "role mappings grant tenant roles only (tenant_admin, member, viewer, auditor)",
                field="role_mappings",
            )
    return tuple(mappings)


def _project_mappings(
    uow: UnitOfWork, tenant_id: str, mappings: Sequence[ProjectMapping] | None
) -> tuple[ProjectMapping, ...]:
    """Mappings whose projects all exist in this tenant (another tenant's: `NotFound`)."""
    found = tuple(mappings or ())
    check_mapping_count(len(found), "project_mappings")
    for mapping in found:
        _check_claim(mapping.claim, mapping.value, "project_mappings")
        uow.projects.get(tenant_id, mapping.project_id)
    return found


def _check_claim(claim: str, value: str, field: str) -> None:
    if not 0 < len(claim) <= 100 or not 0 < len(value) <= 500:
        raise ValidationFailed("mappings need a claim name and a value", field=field)
    if claim in {"iss", "aud", "exp", "iat", "nonce", "azp"}:
        raise ValidationFailed(f"claim {claim!r} cannot be mapped", field=field)
