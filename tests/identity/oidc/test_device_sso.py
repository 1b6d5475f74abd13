"""The device page signs people in through their tenant's OpenID provider (RFC 8628 §3.3).

The browser walks qplane's device page, the real IdP's forms and qplane's
callback; the device (the CLI's side) polls with a client of its own.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.device_browser_support import confirm, csrf_of, decide, poll, start_grant
from tests.identity.oidc.conftest import PASSWORD, Tenant
from tests.idp.harness import Browser, OidcTestProvider

_CONTINUE = re.compile(r"<a href='([^']+)'>Continue</a>")


def _back_at_qplane(browser: Browser, callback: str) -> str:
    """Deliver the IdP's redirect to qplane's callback; return where qplane sends the browser."""
    parts = urlsplit(callback)
    answer = browser.qplane.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert "access_token" not in answer.text  # no token is shown to the browser
    return str(answer.headers["location"])


def test_the_device_page_goes_straight_to_the_tenants_idp_and_carries_its_mfa(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    acme: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    device = TestClient(client.app)
    grant = start_grant(device)
    started = browser.qplane.get(
        "/device",
        params={"user_code": grant["user_code"], "tenant": "acme"},
        follow_redirects=False,
    )
    assert started.status_code == 302, started.text
    assert started.headers["location"].startswith(idp_acme.issuer)
    assert started.headers["referrer-policy"] == "no-referrer"
    callback = browser.authorize(started.headers["location"], "bob", PASSWORD)

    assert _back_at_qplane(browser, callback) == "/device/confirm"
    shown = confirm(browser.qplane)
    assert "bob@acme.test" in shown.text
    assert grant["user_code"] in shown.text
    assert decide(browser.qplane, csrf_of(shown)).status_code == 200

    status, tokens = poll(device, grant["device_code"])
    assert status == 200, tokens
    claims = platform.verifier.verify(tokens["access_token"])
    assert claims.tenant == acme.id
    assert "otp" in claims.amr  # the IdP's MFA reaches the device's session
    assert claims.acr == "urn:test:acr:mfa"
    assert 0 < claims.auth_time <= claims.iat


def test_the_sign_in_forms_sso_continues_by_a_fresh_navigation(
    client: TestClient, browser: Browser, acme: Tenant
) -> None:
    """The form posts only to qplane (CSP form-action 'self'); the IdP is reached by a link."""
    device = TestClient(client.app)
    grant = start_grant(device)
    page = browser.qplane.get(
        "/device/sso",
        params={"user_code": grant["user_code"], "tenant": "acme"},
        follow_redirects=False,
    )
    assert page.status_code == 200, page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "http-equiv='refresh'" in page.text
    link = _CONTINUE.search(page.text)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    callback = browser.authorize(target, "alice", PASSWORD)

    assert _back_at_qplane(browser, callback) == "/device/confirm"
    assert decide(browser.qplane, csrf_of(confirm(browser.qplane)), "deny").status_code == 200
    assert poll(device, grant["device_code"])[1]["error"] == "access_denied"


def test_an_sso_sign_in_delivered_to_another_browser_signs_nothing_in(
    client: TestClient, browser: Browser, acme: Tenant
) -> None:
    device = TestClient(client.app)
    grant = start_grant(device)
    started = browser.qplane.get(
        "/device",
        params={"user_code": grant["user_code"], "tenant": "acme"},
        follow_redirects=False,
    )
    callback = browser.authorize(started.headers["location"], "bob", PASSWORD)
    victim = Browser(TestClient(client.app), "http://testserver")
    parts = urlsplit(callback)

    refused = victim.qplane.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    assert refused.status_code == 401
    assert victim.qplane.get("/device/confirm", follow_redirects=False).status_code == 401
    victim.close()
