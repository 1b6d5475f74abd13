"""What the API says to browsers: login-binding cookies, page headers, the SSO callback's answer.

Three cookies, one per browser flow, each holding a 256-bit secret whose
digest the server keeps with the flow (`qplane.identity.browser_binding`):

===========  ==========================  =====================  ==========================
flow         https public URL            plain http (dev)       why this ``SameSite``
===========  ==========================  =====================  ==========================
OIDC login   ``__Host-qplane-oidc``      ``qplane-oidc``        Lax: the callback is a
                                         Path=/v1/sso           top-level GET redirect
SAML login   ``__Host-qplane-saml``      ``qplane-saml``        None (https): the HTTP-POST
                                         Path=/v1/saml/<t>      binding is a cross-site
                                                                POST from the IdP
device page  ``__Host-qplane-device``    ``qplane-device``      Lax: it must come back
                                         Path=/device           after the IdP's redirects
===========  ==========================  =====================  ==========================

Every one is HttpOnly (no script reads it) and lives as long as its flow
(``Max-Age``). Over https each takes the ``__Host-`` prefix, which makes
browsers insist on ``Secure``, no ``Domain`` and ``Path=/``: no sibling
subdomain or plain-http page can plant or overwrite it — precisely the
move a login-CSRF attacker would make. The prefix forbids path scoping;
paths are no security boundary within one origin, so the prefix wins.

``SameSite=None`` on the SAML cookie is safe because the cookie grants
nothing by itself: it only *binds* — the ACS still needs the matching
single-use RelayState and an assertion signed by the tenant's IdP. Browsers
accept ``SameSite=None`` only with ``Secure``, and refuse ``Secure`` cookies
from plain-http origins, so on plain http (the loopback development and
test setups) the cookies are ``SameSite=Lax`` without ``Secure`` and scoped
to their flow's path instead. A SAML IdP on the same site (loopback) still
works there; one on another site needs https, as production does anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from qplane.api.schemas import TokenResponse
from qplane.config import Settings
from qplane.identity.browser_binding import DeviceSignIn
from qplane.identity.sessions import TokenPair

CONFIRM_PATH: Final = "/device/confirm"
#: Pages of the device flow: nothing loads, nothing frames them, forms post only to us.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # user codes and login state stay out of Referer
}


@dataclass(frozen=True, slots=True)
class BrowserCookie:
    """One binding cookie: its name and attributes, and how to set, read and clear it."""

    name: str
    path: str
    same_site: Literal["lax", "strict", "none"]
    secure: bool
    max_age: int

    def set(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.name,
            value,
            max_age=self.max_age,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.same_site,
        )

    def read(self, request: Request) -> str | None:
        return request.cookies.get(self.name) or None

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.same_site,
        )


def _https(settings: Settings) -> bool:
    """Decided by the configured public URL: behind a TLS proxy the request itself is http."""
    return settings.issuer.lower().startswith("https://")


def _cookie(
    settings: Settings, flow: str, http_path: str, https_same_site: Literal["lax", "none"], ttl: int
) -> BrowserCookie:
    if _https(settings):
        return BrowserCookie(f"__Host-qplane-{flow}", "/", https_same_site, True, ttl)
    return BrowserCookie(f"qplane-{flow}", http_path, "lax", False, ttl)


def oidc_binding(settings: Settings) -> BrowserCookie:
    return _cookie(settings, "oidc", "/v1/sso", "lax", settings.oidc_login_ttl_s)


def saml_binding(settings: Settings, tenant_name: str) -> BrowserCookie:
    path = f"/v1/saml/{tenant_name}"
    return _cookie(settings, "saml", path, "none", settings.saml_request_ttl_s)


def device_session(settings: Settings) -> BrowserCookie:
    return _cookie(settings, "device", "/device", "lax", settings.device_code_ttl_s)


def sso_answer(outcome: TokenPair | DeviceSignIn) -> Response:
    """The tokens (JSON, once), or — for a login the device page started — back to that page."""
    if isinstance(outcome, DeviceSignIn):
        return RedirectResponse(CONFIRM_PATH, status_code=303, headers=PAGE_HEADERS)
    body = TokenResponse(
        access_token=outcome.access_token,
        token_type=outcome.token_type,
        expires_in=outcome.expires_in,
        refresh_token=outcome.refresh_token,
    )
    return JSONResponse(body.model_dump())
