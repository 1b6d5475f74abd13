"""Which routes answer without a token, and which act only on the caller's own identity.

Every other route must ask the decision point (`qplane.policy.authorizer`)
before it answers: the API refuses to send a successful answer from a route
that made no decision (fail closed), and tests walk every route.
"""

from __future__ import annotations

from typing import Final

PUBLIC: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/v1/attestation-key"),  # the public key that verifies result attestations
        ("GET", "/v1/audit/keys"),  # the verifier keys tenants pin to check checkpoints
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/token"),  # the refresh token (or other grant) is the credential
        ("POST", "/internal/v1/token"),  # a worker's signed assertion is its credential
        (
            "POST",
            "/v1/oauth/token-exchange",
        ),  # RFC 8693: the workload's OIDC token is the credential
        ("GET", "/v1/saml/{tenant_name}/metadata"),  # SAML: public SP metadata for the IdP
        ("GET", "/v1/saml/{tenant_name}/login"),  # SAML: the browser has no token yet
        ("POST", "/v1/saml/{tenant_name}/acs"),  # SAML: the IdP-signed assertion is the credential
        ("GET", "/v1/sso/{tenant_name}/login"),  # OIDC: the browser has no token yet
        # OIDC: the single-use server-side state, bound to the browser's cookie, is the credential
        ("GET", "/v1/sso/callback"),
        ("POST", "/v1/auth/mfa"),  # second login step: the mfa_token plus a code are the credential
        ("POST", "/v1/oauth/device_authorization"),  # RFC 8628: the device has no token yet
        ("POST", "/v1/oauth/token"),  # RFC 8628 polling: the device code is the credential
        # RFC 8628 §3.3 in a browser: the person has no token yet. They sign in on these pages;
        # what they do there is bound to an HttpOnly session cookie, and the decision POST also
        # needs the session's single-use CSRF token (tests/api/test_device_browser.py).
        ("GET", "/device"),  # the sign-in page; starts a browser session
        ("GET", "/device/sso"),  # starts the tenant's SSO, bound to this browser
        ("POST", "/device/login"),  # the password (+ second factor) is the credential
        ("GET", "/device/confirm"),  # shows the grant to the signed-in browser session only
        ("POST", "/device/decide"),  # the session cookie plus its CSRF token are the credential
    }
)

#: Routes where a signed-in principal acts on its own identity only (its own
#: second factor, its own device login): there is no resource to decide on.
SELF_SERVICE: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("GET", "/v1/me"),
        ("GET", "/v1/me/mfa"),
        ("POST", "/v1/me/mfa/totp"),
        ("POST", "/v1/me/mfa/totp/confirm"),
        ("POST", "/v1/me/mfa/recovery-codes"),
        ("POST", "/v1/auth/step-up"),
        ("GET", "/v1/oauth/device"),  # shows a device login the caller may approve for itself
        ("POST", "/v1/oauth/device/approve"),
        ("POST", "/v1/oauth/device/deny"),
        # A worker asking for work: every job it is handed is decided (job.lease);
        # an empty answer hands out nothing.
        ("POST", "/internal/v1/leases"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
)


def needs_decision(method: str, route: str) -> bool:
    """Whether a successful answer on this route must come with a policy decision."""
    return (method, route) not in PUBLIC and (method, route) not in SELF_SERVICE
