"""SAML 2.0 single sign-on facts: a tenant's registered IdPs, pending logins, identity links.

Plain data only; verification lives in `qplane.identity.saml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: Id prefix of a registered SAML identity provider.
SAML_PROVIDER: Final = "sip"


@dataclass(frozen=True, slots=True)
class AttributeRule:
    """Grant *grant* (a role name or a project id) when *attribute* holds *value*."""

    attribute: str
    value: str
    grant: str


@dataclass(frozen=True, slots=True)
class SamlProvider:
    """One tenant's SAML identity provider, as its admin registered it.

    ``metadata_xml`` is the IdP's metadata: its entity id, signing
    certificates and single sign-on endpoints. Only assertions signed by a
    certificate in it are ever accepted for this tenant.
    """

    id: str
    tenant_id: str
    entity_id: str
    metadata_xml: str
    metadata_url: str | None
    email_attribute: str
    allowed_domains: tuple[str, ...]
    role_rules: tuple[AttributeRule, ...]
    project_rules: tuple[AttributeRule, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SamlLoginRequest:
    """An AuthnRequest we sent and have not yet seen answered (single use)."""

    relay_state: str
    request_id: str
    tenant_id: str
    provider_id: str
    expires_at: datetime
    #: Digest of the cookie set in the browser that started the login (login CSRF).
    binding_hash: str
    #: Digest naming the device page's browser session this login signs in, if any.
    browser_session: str | None = None


@dataclass(frozen=True, slots=True)
class SamlIdentity:
    """A principal linked to (IdP entity id, NameID) in one tenant."""

    tenant_id: str
    idp_entity_id: str
    name_id: str
    principal_id: str
    project_ids: tuple[str, ...]
