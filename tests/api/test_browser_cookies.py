"""The binding cookies' attributes: what each flow needs over https, and what works over http."""

from __future__ import annotations

import pytest
from fastapi import Response

from qplane.api import browser
from qplane.config import Settings

HTTPS = Settings(public_url="https://qplane.example.com")
HTTP = Settings(public_url="http://127.0.0.1:8080")


def _set_cookie(cookie: browser.BrowserCookie) -> str:
    response = Response()
    cookie.set(response, "v" * 43)
    return response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("cookie", "same_site"),
    [
        (browser.oidc_binding(HTTPS), "lax"),  # the callback is a top-level GET
        (browser.saml_binding(HTTPS, "acme"), "none"),  # the ACS gets a cross-site POST
        (browser.device_session(HTTPS), "lax"),  # back from the IdP's redirects
    ],
)
def test_over_https_every_cookie_is_host_prefixed_and_secure(
    cookie: browser.BrowserCookie, same_site: str
) -> None:
    header = _set_cookie(cookie)
    assert header.startswith("__Host-qplane-")
    for attribute in ("HttpOnly", "Secure", "Path=/;", f"SameSite={same_site}", "Max-Age=600"):
        assert attribute in header, header
    assert "Domain" not in header


@pytest.mark.parametrize(
    ("cookie", "path"),
    [
        (browser.oidc_binding(HTTP), "/v1/sso"),
        (browser.saml_binding(HTTP, "acme"), "/v1/saml/acme"),
        (browser.device_session(HTTP), "/device"),
    ],
)
def test_over_http_cookies_are_path_scoped_lax_and_not_secure(
    cookie: browser.BrowserCookie, path: str
) -> None:
    """Browsers drop Secure cookies from http origins, and SameSite=None needs Secure."""
    header = _set_cookie(cookie)
    assert header.startswith("qplane-")
    for attribute in ("HttpOnly", f"Path={path}", "SameSite=lax"):
        assert attribute in header, header
    assert "Secure" not in header


def test_clearing_expires_the_same_cookie() -> None:
    response = Response()
    browser.saml_binding(HTTPS, "acme").clear(response)
    header = response.headers["set-cookie"]
    assert header.startswith('__Host-qplane-saml=""')
    assert "Max-Age=0" in header
    assert "Path=/;" in header
