"""Registering a tenant's SAML identity providers (tenant admins only).

Security properties:

* Only a tenant admin of the tenant (`Action.IDP_MANAGE`, `Action.IDP_READ`)
  may register, delete or list; another tenant's provider answers `NotFound`.
* Changing IdP settings is privileged (``idp.manage`` is in the policy
  schema's privileged group): the decision point asks for a recent MFA, else
  answers the RFC 9470 challenge, before anything is read or written.
* Metadata is checked before it is stored: exactly one IdP, a signing
  certificate, an HTTP-Redirect SSO endpoint. A metadata URL must be https
  and is fetched once, at registration, without following redirects.
* Role rules grant tenant roles only; project rules name this tenant's projects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import httpx

from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import NotFound, ValidationFailed
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.saml import SAML_PROVIDER, AttributeRule, SamlProvider
from qplane.identity.saml import _pysaml
from qplane.identity.saml.mapping import check_role_rules
from qplane.identity.saml.service_provider import ServiceProvider
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine

MetadataFetcher = Callable[[str], str]

_MAX_METADATA_BYTES: Final = 1024 * 1024
_DOMAIN_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def fetch_metadata(url: str) -> str:
    """GET an IdP's metadata over https (no redirects, 10 s, at most 1 MiB)."""
    if not url.startswith("https://"):
        raise ValidationFailed("metadata_url must be an https URL", field="metadata_url")
    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_METADATA_BYTES:
                    raise ValidationFailed("IdP metadata is too large", field="metadata_url")
    except httpx.HTTPError:
        raise ValidationFailed("could not fetch IdP metadata", field="metadata_url") from None
    return body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class ProviderRegistration:
    """What a tenant admin submits. Exactly one of metadata_xml and metadata_url."""

    metadata_xml: str | None
    metadata_url: str | None
    allowed_domains: tuple[str, ...]
    role_rules: tuple[AttributeRule, ...]
    project_rules: tuple[AttributeRule, ...] = ()
    email_attribute: str = "email"


class SamlProviderService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sp: ServiceProvider,
        *,
        fetch: MetadataFetcher = fetch_metadata,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._sp = sp
        self._fetch = fetch

    def register(self, actor: Actor, tenant_id: str, reg: ProviderRegistration) -> SamlProvider:
        self._authz.on_tenant(actor, Action.IDP_MANAGE, tenant_id)
        xml = self._metadata(reg)
        domains = _domains(reg.allowed_domains)
        check_role_rules(reg.role_rules)
        if not reg.role_rules:
            raise ValidationFailed("at least one role mapping is required", field="role_mappings")
        with self._uow() as uow:
            tenant = uow.tenants.get(tenant_id)
            facts = _pysaml.idp_facts(xml, self._sp.endpoints(tenant.name), self._sp.keys)
            for rule in reg.project_rules:
                try:
                    uow.projects.get(tenant_id, rule.grant)
                except NotFound:
                    raise ValidationFailed(
                        f"project {rule.grant!r} not found", field="project_mappings"
                    ) from None
            provider = SamlProvider(
                id=ids.new_id(SAML_PROVIDER),
                tenant_id=tenant_id,
                entity_id=facts.entity_id,
                metadata_xml=xml,
                metadata_url=reg.metadata_url,
                email_attribute=reg.email_attribute,
                allowed_domains=domains,
                role_rules=reg.role_rules,
                project_rules=reg.project_rules,
                created_at=utcnow(),
            )
            uow.saml_providers.add(provider)
            audit(
                uow,
                actor,
                "saml_provider.register",
                tenant_id=tenant_id,
                target=provider.id,
                detail=f"idp={facts.entity_id}"[:500],
            )
            uow.commit()
        return provider

    def list(self, actor: Actor, tenant_id: str) -> list[SamlProvider]:
        self._authz.on_tenant(actor, Action.IDP_READ, tenant_id)
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            return uow.saml_providers.for_tenant(tenant_id)

    def delete(self, actor: Actor, tenant_id: str, provider_id: str) -> None:
        self._authz.on_tenant(actor, Action.IDP_MANAGE, tenant_id)
        with self._uow() as uow:
            uow.saml_providers.delete(tenant_id, provider_id)
            audit(uow, actor, "saml_provider.delete", tenant_id=tenant_id, target=provider_id)
            uow.commit()

    def _metadata(self, reg: ProviderRegistration) -> str:
        if (reg.metadata_xml is None) == (reg.metadata_url is None):
            raise ValidationFailed("give exactly one of metadata_xml and metadata_url")
        if reg.metadata_xml is not None:
            if len(reg.metadata_xml) > _MAX_METADATA_BYTES:
                raise ValidationFailed("IdP metadata is too large", field="metadata_xml")
            return reg.metadata_xml
        assert reg.metadata_url is not None
        return self._fetch(reg.metadata_url)


def _domains(domains: tuple[str, ...]) -> tuple[str, ...]:
    folded = tuple(sorted({domain.strip().lower() for domain in domains}))
    if not folded:
        raise ValidationFailed("at least one allowed email domain is required", field="domains")
    for domain in folded:
        if not domain or not set(domain) <= _DOMAIN_CHARS or "." not in domain:
            raise ValidationFailed(f"{domain!r} is not a domain name", field="allowed_domains")
    return folded
