"""Helpers for driving the device verification page as a browser does (RFC 8628 §3.3).

Shared by the API tests (ASGI client) and the end-to-end tests (real HTTP):
a browser here is any httpx client that keeps cookies.
"""

from __future__ import annotations

import re
from typing import Any, Final

import httpx

from qplane.identity.device import GRANT_TYPE

CLIENT: Final = "qplane-cli"
_CSRF: Final = re.compile(r"name='csrf' value='([^']+)'")


def start_grant(http: httpx.Client) -> dict[str, Any]:
    """What `qplane login` does first: open a grant (device code, user code, URLs)."""
    response = http.post("/v1/oauth/device_authorization", data={"client_id": CLIENT})
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(http: httpx.Client, device_code: str) -> tuple[int, dict[str, Any]]:
    """One token request of the device, as the CLI polls."""
    response = http.post(
        "/v1/oauth/token",
        data={"grant_type": GRANT_TYPE, "device_code": device_code, "client_id": CLIENT},
    )
    return response.status_code, dict(response.json())


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's form carries (the last form's, on the sign-in page)."""
    found = _CSRF.findall(page.text)
    assert found, page.text[:500]
    return str(found[-1])


def confirm(http: httpx.Client) -> httpx.Response:
    page = http.get("/device/confirm", follow_redirects=False)
    assert page.status_code == 200, page.text
    return page


def decide(http: httpx.Client, csrf: str | None, decision: str = "approve") -> httpx.Response:
    form = {"decision": decision} | ({"csrf": csrf} if csrf is not None else {})
    return http.post("/device/decide", data=form, follow_redirects=False)
