"""Two tenants, two IdPs: an account, a code or a token of one never logs into the other."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

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


def _tenant_of(client: TestClient, token: str) -> object:
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return me.json()["tenant_id"]


def test_each_tenant_logs_in_through_its_own_idp(
    client: TestClient, browser: Browser, acme: Tenant, globex: Tenant
) -> None:
    acme_login = browser.login("acme", "bob", PASSWORD)
    globex_login = Browser(client, "http://testserver").login("globex", "gina", PASSWORD)

    assert _tenant_of(client, acme_login.json()["access_token"]) == acme.id
    assert _tenant_of(client, globex_login.json()["access_token"]) == globex.id


def test_a_code_from_tenant_a_idp_never_logs_into_tenant_b(
    platform: Platform, browser: Browser, acme: Tenant, globex: Tenant
) -> None:
    from_acme = parse_qs(urlsplit(browser.callback_url("acme", "bob", PASSWORD)).query)
    globex_start = browser.start("globex")
    globex_state = parse_qs(urlsplit(globex_start.headers["location"]).query)["state"][0]

    injected = {"code": from_acme["code"][0], "state": globex_state}
    response = browser.qplane.get("/v1/sso/callback?" + urlencode(injected))

    assert response.status_code == 401
    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("bob@acme.test") is None
    assert sso_audit(platform, globex.id, Outcome.DENIED)


def test_tenant_a_idp_accounts_cannot_use_tenant_b_login(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    acme: Tenant,
    globex: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    """Even registered with tenant A's issuer, B's client id makes A's ID tokens foreign."""
    third = make_tenant(client, platform, "initech")
    body = provider_body(third, idp_acme, ACME_CLIENT) | {"client_id": "qplane-initech"}
    registered = client.post(
        f"/v1/tenants/{third.id}/identity-providers",
        json=body,
        headers=mfa_headers(platform, third.admin_email),
    )
    assert registered.status_code == 201, registered.text
    acme_code = parse_qs(urlsplit(browser.callback_url("acme", "bob", PASSWORD)).query)["code"]
    initech_start = browser.start("initech")
    state = parse_qs(urlsplit(initech_start.headers["location"]).query)["state"][0]

    response = browser.qplane.get(
        "/v1/sso/callback?" + urlencode({"code": acme_code[0], "state": state})
    )

    assert response.status_code == 401
    assert sso_audit(platform, third.id, Outcome.DENIED)


def test_the_same_person_at_two_idps_is_two_principals(
    client: TestClient, browser: Browser, acme: Tenant, globex: Tenant
) -> None:
    """Accounts link by (tenant, issuer, sub): tenant B's IdP cannot reach A's principal."""
    acme_token = browser.login("acme", "alice", PASSWORD).json()["access_token"]
    globex_token = Browser(client, "http://testserver").login("globex", "gina", PASSWORD)

    acme_me = client.get("/v1/me", headers={"Authorization": f"Bearer {acme_token}"}).json()
    globex_me = client.get(
        "/v1/me", headers={"Authorization": f"Bearer {globex_token.json()['access_token']}"}
    ).json()
    assert acme_me["id"] != globex_me["id"]
    assert acme_me["tenant_id"] != globex_me["tenant_id"]
