"""Tying server-side login state to the browser that created it (login CSRF, RFC 9700 §4.7).

A browser login (OIDC authorization code flow, SAML Web SSO, the device
verification page) keeps its state on the server and hands the browser a
random *binding secret* in a cookie. The server stores only the secret's
digest with the state; whoever finishes the login must present the cookie.
An attacker who lures a victim's browser to *their* callback URL (their
``state`` and code, their RelayState and assertion) is refused, because the
victim's browser does not hold the attacker's cookie.

The cookie itself (name, path, ``SameSite``, ``Secure``) is the web edge's
business (`qplane.api.browser_cookies`); this module only makes and checks
the values.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Final, Protocol

_SECRET_BYTES: Final = 32  # 256 bits
_MAX_SECRET_CHARS: Final = 128
_DOMAIN: Final = b"qplane/browser-binding/v1:"


def new_secret() -> str:
    """256 random bits, URL- and cookie-safe."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def secret_digest(secret: str) -> str:
    """What the server stores: a domain-separated SHA-256 (the secret has 256 bits)."""
    return hashlib.sha256(_DOMAIN + secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, stored_digest: str | None) -> bool:
    """True only for a present secret whose digest equals *stored_digest* (constant time)."""
    if not secret or not stored_digest or len(secret) > _MAX_SECRET_CHARS:
        return False
    return secrets.compare_digest(secret_digest(secret), stored_digest)


def binding_refusal(binding: str | None, stored_digest: str) -> str | None:
    """Why a login's finishing request is refused for its cookie, or None when it may go on."""
    if not binding:
        return "login binding cookie missing: the login was not started in this browser"
    if not secret_matches(binding, stored_digest):
        return "login binding cookie belongs to another login"
    return None


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser, and the binding secret to set in its cookie first."""

    url: str
    binding: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DeviceSignIn:
    """An SSO callback's answer for a login started by the device page.

    No platform session was started: who signed in (and how) now waits in
    the device page's browser session, where the person confirms the device.
    """

    principal_id: str


class SignInRecorder(Protocol):
    """Where an SSO login started by the device page hands its result (the browser sessions)."""

    def record_sign_in(
        self,
        id_hash: str,
        principal_id: str,
        tenant_id: str | None,
        *,
        amr: tuple[str, ...],
        acr: str,
        auth_time: int | None,
    ) -> None:
        """Record the sign-in in the session *id_hash*; `Unauthenticated` when it is gone."""
        ...
