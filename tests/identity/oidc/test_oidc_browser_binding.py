"""Login CSRF: only the browser that started an OIDC login may finish it; tenants stay hidden."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.domain.audit import Outcome
from tests.identity.oidc.conftest import (
    ACME_CLIENT,
    PASSWORD,
    Tenant,
    make_tenant,
    mfa_headers,
    provider_body,
    sso_audit,
)
from tests.idp.harness import Browser, OidcTestProvider

COOKIE = "qplane-oidc"


@pytest.fixture
def attacker(client: TestClient) -> Iterator[Browser]:
    """A second browser, with cookies of its own, on the same server."""
    agent = Browser(TestClient(client.app), "http://testserver")
    yield agent
    agent.close()


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert "access_token" not in response.text


def test_a_callback_without_the_binding_cookie_is_refused(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    browser.qplane.cookies.clear()

    _refused(browser.deliver(callback), "cookie missing")

    denied = [e.detail for e in sso_audit(platform, acme.id, Outcome.DENIED)]
    assert any("cookie missing" in (d or "") for d in denied), denied
    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("bob@acme.test") is None


def test_a_victim_cannot_be_made_to_finish_the_attackers_login(
    platform: Platform, browser: Browser, attacker: Browser, acme: Tenant
) -> None:
    planted = attacker.callback_url("acme", "alice", PASSWORD)  # stops before qplane's callback
    assert browser.start("acme").status_code == 302  # the victim has a login of its own going

    _refused(browser.deliver(planted), "belongs to another login")

    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("alice@acme.test") is None
    # The planted flow is spent: not even its own browser can finish it now.
    _refused(attacker.deliver(planted), "already used")


def test_the_cookie_is_httponly_short_lived_path_scoped_and_cleared_after_use(
    browser: Browser, acme: Tenant
) -> None:
    started = browser.start("acme")
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    for attribute in ("HttpOnly", "Max-Age=600", "Path=/v1/sso", "SameSite=lax"):
        assert attribute in cookie, cookie
    assert "Secure" not in cookie  # plain http (loopback): a Secure cookie would never return
    assert "__Host-" not in cookie

    done = browser.deliver(browser.authorize(started.headers["location"], "bob", PASSWORD))

    assert done.status_code == 200, done.text
    cleared = done.headers["set-cookie"]
    assert cleared.startswith(COOKIE + "=")
    assert "Max-Age=0" in cleared
    assert COOKIE not in browser.qplane.cookies


def test_a_replayed_callback_is_refused_even_with_its_cookie(
    browser: Browser, acme: Tenant
) -> None:
    started = browser.start("acme")
    binding = browser.qplane.cookies.get(COOKIE)
    callback = browser.authorize(started.headers["location"], "bob", PASSWORD)
    assert browser.deliver(callback).status_code == 200

    browser.qplane.cookies.set(COOKIE, str(binding), path="/v1/sso")
    _refused(browser.deliver(callback), "already used")


def test_the_login_does_not_tell_whether_a_tenant_exists(
    client: TestClient, platform: Platform, acme: Tenant, idp_acme: OidcTestProvider
) -> None:
    make_tenant(client, platform, "globex")  # exists, no identity provider
    answers = [
        client.get("/v1/sso/nobody/login", follow_redirects=False),
        client.get("/v1/sso/globex/login", follow_redirects=False),
        client.get("/v1/sso/acme/login?provider=other", follow_redirects=False),
    ]
    second = provider_body(acme, idp_acme, ACME_CLIENT) | {"name": "second"}
    added = client.post(
        f"/v1/tenants/{acme.id}/identity-providers",
        json=second,
        headers=mfa_headers(platform, acme.admin_email),
    )
    assert added.status_code == 201, added.text
    answers.append(client.get("/v1/sso/acme/login", follow_redirects=False))  # none named

    bodies = [a.json() for a in answers]
    assert {a.status_code for a in answers} == {404}
    assert len({(b["type"], b["title"], b["detail"]) for b in bodies}) == 1, bodies
    assert not any("set-cookie" in a.headers for a in answers)
