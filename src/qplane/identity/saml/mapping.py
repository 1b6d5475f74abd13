"""From a verified assertion to a tenant's roles, projects, email and authentication methods.

Security properties:

* Roles and projects come only from the tenant admin's rules: an attribute
  value grants exactly what a rule names, and a role rule can name tenant
  roles only (never ``operator``). A user mapped to no role is refused.
* The email must be in one of the provider's allowed domains (exact match,
  case-folded), so an IdP cannot provision addresses of another domain.
* ``amr`` is derived from the AuthnContextClassRef by a fixed table; an
  unknown class yields no method rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from qplane.domain.errors import Unauthenticated, ValidationFailed
from qplane.domain.saml import AttributeRule, SamlProvider
from qplane.domain.tenancy import TENANT_ROLES, Role, validate_email

_AC: Final = "urn:oasis:names:tc:SAML:2.0:ac:classes:"
#: AuthnContextClassRef → RFC 8176 authentication method references.
AMR_BY_CLASS: Final[dict[str, tuple[str, ...]]] = {
    _AC + "Password": ("pwd",),
    _AC + "PasswordProtectedTransport": ("pwd",),
    _AC + "TimeSyncToken": ("otp",),
    _AC + "Smartcard": ("sc",),
    _AC + "SmartcardPKI": ("sc", "mfa"),
    _AC + "X509": ("swk",),
    _AC + "TLSClient": ("swk",),
    _AC + "Kerberos": ("kba",),
    "https://refeds.org/profile/mfa": ("mfa",),
    "http://schemas.microsoft.com/claims/multipleauthn": ("mfa",),
}
#: The ``acr`` claim for an assertion without AuthnContextClassRef.
UNSPECIFIED_ACR: Final = _AC + "unspecified"

Attributes = Mapping[str, tuple[str, ...]]


def amr_for(authn_class: str | None) -> tuple[str, ...]:
    return AMR_BY_CLASS.get(authn_class or "", ())


def roles_for(provider: SamlProvider, attributes: Attributes) -> frozenset[Role]:
    return frozenset(Role(grant) for grant in _granted(provider.role_rules, attributes))


def projects_for(provider: SamlProvider, attributes: Attributes) -> tuple[str, ...]:
    return tuple(sorted(_granted(provider.project_rules, attributes)))


def email_for(provider: SamlProvider, attributes: Attributes, name_id: str) -> str:
    """The user's email from the provider's email attribute, or an email-shaped NameID."""
    values = attributes.get(provider.email_attribute, ())
    candidate = values[0] if len(values) == 1 else name_id
    try:
        email = validate_email(candidate)
    except ValidationFailed:
        raise Unauthenticated("SAML assertion carries no usable email") from None
    if email.rsplit("@", 1)[1] not in provider.allowed_domains:
        raise Unauthenticated("email domain is not allowed for this identity provider")
    return email


def check_role_rules(rules: Iterable[AttributeRule]) -> None:
    """Refuse a rule that would grant anything but a tenant role."""
    for rule in rules:
        try:
            role = Role(rule.grant)
        except ValueError:
            raise ValidationFailed(f"unknown role {rule.grant!r}", field="role_mappings") from None
        if role not in TENANT_ROLES:
            raise ValidationFailed(
                f"role {rule.grant!r} cannot be granted in a tenant", field="role_mappings"
            )


def _granted(rules: Iterable[AttributeRule], attributes: Attributes) -> set[str]:
    return {rule.grant for rule in rules if rule.value in attributes.get(rule.attribute, ())}
