"""OpenID Connect single sign-on: a tenant's identity provider and what a login links.

Plain records only; verification lives in `qplane.identity.oidc`. The client
secret is deliberately absent from `IdentityProvider`: it exists only
sealed in the store and, briefly, in the login service that opens it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from qplane.domain.errors import ValidationFailed

IDENTITY_PROVIDER: Final = "idp"  # id prefix
TOKEN_AUTH_METHODS: Final = frozenset({"client_secret_basic", "client_secret_post"})
_MAX_MAPPINGS: Final = 100


@dataclass(frozen=True, slots=True)
class RoleMapping:
    """Grant *roles* when the ID token's *claim* equals (or, for a list, contains) *value*."""

    claim: str
    value: str
    roles: frozenset[str]

    def matches(self, claims: Mapping[str, object]) -> bool:
        return _claim_has(claims, self.claim, self.value)


@dataclass(frozen=True, slots=True)
class ProjectMapping:
    """Give access to *project_id* when the ID token's *claim* holds *value* (e.g. a group)."""

    claim: str
    value: str
    project_id: str

    def matches(self, claims: Mapping[str, object]) -> bool:
        return _claim_has(claims, self.claim, self.value)


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    """A tenant's registered OpenID provider (its secret is kept sealed elsewhere)."""

    id: str
    tenant_id: str
    name: str
    issuer: str
    client_id: str
    allowed_domains: tuple[str, ...]
    role_mappings: tuple[RoleMapping, ...]
    project_mappings: tuple[ProjectMapping, ...]
    created_at: datetime
    updated_at: datetime
    #: client_secret_basic or client_secret_post; None: basic when the IdP offers it.
    token_auth_method: str | None = None

    def allows_email(self, email: str) -> bool:
        """True when *email*'s domain is exactly one of the allowed domains (no suffix match)."""
        _, at, domain = email.rpartition("@")
        return bool(at) and domain.lower() in self.allowed_domains

    def roles_for(self, claims: Mapping[str, object]) -> frozenset[str]:
        """The union of the roles of every mapping that matches; empty means "not mapped"."""
        granted: set[str] = set()
        for mapping in self.role_mappings:
            if mapping.matches(claims):
                granted |= mapping.roles
        return frozenset(granted)

    def projects_for(self, claims: Mapping[str, object]) -> tuple[str, ...]:
        return tuple(sorted({m.project_id for m in self.project_mappings if m.matches(claims)}))


@dataclass(frozen=True, slots=True)
class LoginFlow:
    """The server-side half of one authorization request: single use, short-lived."""

    state_hash: str
    tenant_id: str
    provider_id: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    expires_at: datetime
    #: Digest of the cookie set in the browser that started the login (login CSRF).
    binding_hash: str
    #: Digest naming the device page's browser session this login signs in, if any.
    browser_session: str | None = None


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    """An IdP account ``(issuer, subject)`` linked to one principal of one tenant."""

    principal_id: str
    tenant_id: str
    issuer: str
    subject: str
    email: str
    project_ids: tuple[str, ...]
    last_login_at: datetime


def normalise_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated email domains; at least one is required."""
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    if not cleaned:
        raise ValidationFailed(
            "at least one allowed email domain is required", field="allowed_domains"
        )
    for domain in cleaned:
        if "@" in domain or "." not in domain or len(domain) > 253 or " " in domain:
            raise ValidationFailed(f"{domain!r} is not an email domain", field="allowed_domains")
    return tuple(cleaned)


def check_mapping_count(count: int, what: str) -> None:
    if count > _MAX_MAPPINGS:
        raise ValidationFailed(f"at most {_MAX_MAPPINGS} {what} are allowed", field=what)


def _claim_has(claims: Mapping[str, object], name: str, value: str) -> bool:
    present = claims.get(name)
    if isinstance(present, str):
        return present == value
    if isinstance(present, list | tuple):
        return value in [item for item in present if isinstance(item, str)]
    return False
