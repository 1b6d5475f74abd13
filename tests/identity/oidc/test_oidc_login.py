"""Single sign-on through a real OpenID provider: the login, and every way it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import update

from qplane.bootstrap import Platform
from qplane.domain.audit import Outcome
from qplane.store.models_oidc import OidcLoginFlowRow
from tests.identity.oidc.conftest import OPERATOR_EMAIL, PASSWORD, Tenant, mfa_headers, sso_audit
from tests.idp.harness import Browser, IdpUser, OidcTestProvider


def _me(client: TestClient, token: str) -> dict[str, object]:
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_first_login_provisions_the_user_with_mapped_roles_and_projects(
    client: TestClient, platform: Platform, browser: Browser, acme: Tenant
) -> None:
    response = browser.login("acme", "bob", PASSWORD)

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["refresh_token"]
    me = _me(client, tokens["access_token"])
    assert me["tenant_id"] == acme.id
    assert me["kind"] == "user"
    assert me["roles"] == ["member"]
    issuer = browser_issuer(platform, acme)
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login("bob@acme.test")  # email folded to lower case
        assert found is not None
        principal, password_hash = found
        link = uow.oidc_identities.by_subject(acme.id, issuer, "acme-0002")
    assert password_hash is None  # an SSO account cannot log in with a password
    assert link is not None
    assert link.principal_id == principal.id == me["id"]
    assert link.project_ids == (acme.project_id,)
    assert len(sso_audit(platform, acme.id, Outcome.SUCCESS)) == 1


def browser_issuer(platform: Platform, tenant: Tenant) -> str:
    with platform.database.unit_of_work() as uow:
        return uow.oidc_providers.for_tenant(tenant.id)[0].issuer


def test_the_idps_amr_and_acr_are_carried_into_the_platform_token(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    tokens = browser.login("acme", "bob", PASSWORD).json()

    claims = platform.verifier.verify(tokens["access_token"])
    assert "otp" in claims.amr
    assert claims.acr == "urn:test:acr:mfa"
    assert 0 < claims.auth_time <= claims.iat


def test_a_second_login_reuses_the_account_and_updates_its_roles(
    client: TestClient, browser: Browser, acme: Tenant, idp_acme: OidcTestProvider
) -> None:
    first = _me(client, browser.login("acme", "alice", PASSWORD).json()["access_token"])
    assert first["roles"] == ["member", "tenant_admin"]

    demoted = [
        IdpUser("alice", PASSWORD, "acme-0001", "alice@acme.test", ["qplane-users"]),
    ]
    idp_acme.set_users(demoted)
    second = _me(client, browser.login("acme", "alice", PASSWORD).json()["access_token"])

    assert second["id"] == first["id"]
    assert second["roles"] == ["member"]


def test_a_user_no_longer_mapped_is_refused_and_loses_access(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    acme: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    token = browser.login("acme", "alice", PASSWORD).json()["access_token"]
    idp_acme.set_users([IdpUser("alice", PASSWORD, "acme-0001", "alice@acme.test", ["sales"])])

    refused = browser.login("acme", "alice", PASSWORD)

    assert refused.status_code == 401
    assert "not mapped" in refused.json()["detail"]
    assert "access_token" not in refused.text
    assert _me(client, token)["roles"] == []  # the refused login also stripped the roles
    jobs = client.get(
        f"/v1/projects/{acme.project_id}/jobs", headers={"Authorization": f"Bearer {token}"}
    )
    assert jobs.status_code == 404  # no role and no project: nothing there for them
    assert sso_audit(platform, acme.id, Outcome.DENIED)


def _project_jobs(client: TestClient, token: str, project_id: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return client.get(f"/v1/projects/{project_id}/jobs", headers=headers).status_code


def test_an_idp_group_mapped_to_a_project_grants_that_project_only(
    client: TestClient, platform: Platform, browser: Browser, acme: Tenant
) -> None:
    admin = mfa_headers(platform, acme.admin_email)
    other = client.post(
        f"/v1/tenants/{acme.id}/projects", json={"name": "secret-lab"}, headers=admin
    ).json()["id"]

    token = browser.login("acme", "bob", PASSWORD).json()["access_token"]  # groups: physics

    assert _project_jobs(client, token, acme.project_id) == 200
    assert _project_jobs(client, token, other) == 404
    listed = client.get(
        f"/v1/tenants/{acme.id}/projects", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [p["id"] for p in listed] == [acme.project_id]


def test_leaving_the_idp_group_removes_the_project_at_next_login(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    acme: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    first = browser.login("acme", "bob", PASSWORD).json()["access_token"]
    assert _project_jobs(client, first, acme.project_id) == 200
    idp_acme.set_users([IdpUser("bob", PASSWORD, "acme-0002", "bob@acme.test", ["qplane-users"])])

    assert _me(client, first)["groups"] == ["physics", "qplane-users"]  # the IdP's groups
    second = browser.login("acme", "bob", PASSWORD).json()["access_token"]

    assert _me(client, second)["groups"] == ["qplane-users"]
    assert _project_jobs(client, second, acme.project_id) == 404
    assert _project_jobs(client, first, acme.project_id) == 404  # older tokens too
    with platform.database.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.entries(acme.id)]
    assert actions.count("project.member.sync") == 2  # granted, then removed
    assert actions.count("group.member.sync") == 2


def test_a_membership_an_admin_granted_survives_the_idp_sync(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    acme: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    token = browser.login("acme", "bob", PASSWORD).json()["access_token"]
    bob = _me(client, token)["id"]
    granted = client.put(
        f"/v1/tenants/{acme.id}/projects/{acme.project_id}/members/{bob}",
        headers=mfa_headers(platform, acme.admin_email),
    )
    assert granted.status_code == 200, granted.text
    idp_acme.set_users([IdpUser("bob", PASSWORD, "acme-0002", "bob@acme.test", ["qplane-users"])])

    again = browser.login("acme", "bob", PASSWORD).json()["access_token"]

    assert _project_jobs(client, again, acme.project_id) == 200


def test_an_account_that_maps_to_no_role_is_refused(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    response = browser.login("acme", "nobody", PASSWORD)

    assert response.status_code == 401
    assert "not mapped to any role" in response.json()["detail"]
    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("nobody@acme.test") is None
    denied = sso_audit(platform, acme.id, Outcome.DENIED)
    assert [e.detail for e in denied] == ["identity provider account is not mapped to any role"]


def test_an_email_outside_the_allowed_domains_is_refused(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    response = browser.login("acme", "mallory", PASSWORD)

    assert response.status_code == 401
    assert "domain" in response.json()["detail"]
    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("mallory@evil.test") is None
    assert sso_audit(platform, acme.id, Outcome.DENIED)


def test_a_replayed_callback_is_refused(platform: Platform, browser: Browser, acme: Tenant) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    assert browser.deliver(callback).status_code == 200

    replayed = browser.deliver(callback)

    assert replayed.status_code == 401
    assert "already used" in replayed.json()["detail"]
    assert sso_audit(platform, None, Outcome.DENIED)


def test_a_tampered_state_is_refused(browser: Browser, acme: Tenant) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    query = parse_qs(urlsplit(callback).query)
    query["state"] = [query["state"][0][:-2] + "xx"]

    response = browser.qplane.get("/v1/sso/callback?" + urlencode(query, doseq=True))

    assert response.status_code == 401
    # The genuine state still works once: tampering did not consume it.
    assert browser.deliver(callback).status_code == 200


def test_a_missing_state_is_refused(browser: Browser, acme: Tenant) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    code = parse_qs(urlsplit(callback).query)["code"][0]

    response = browser.qplane.get("/v1/sso/callback", params={"code": code})

    assert response.status_code == 401


def test_an_id_token_whose_nonce_is_not_this_logins_is_refused(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    with platform.database.unit_of_work() as uow:  # as if the IdP answered another login
        uow_session = uow.oidc_flows._session  # type: ignore[attr-defined]
        uow_session.execute(update(OidcLoginFlowRow).values(nonce="another-login-nonce"))
        uow.commit()

    response = browser.deliver(callback)

    assert response.status_code == 401
    assert "nonce" in response.json()["detail"]


def test_a_code_from_another_login_is_refused(browser: Browser, acme: Tenant) -> None:
    first = browser.callback_url("acme", "bob", PASSWORD)
    second = browser.callback_url("acme", "bob", PASSWORD)
    mixed = parse_qs(urlsplit(second).query)
    mixed["code"] = parse_qs(urlsplit(first).query)["code"]  # PKCE verifier belongs to `first`

    response = browser.qplane.get("/v1/sso/callback?" + urlencode(mixed, doseq=True))

    assert response.status_code == 401
    assert "refused the authorization code" in response.json()["detail"]


def test_an_error_from_the_idp_is_refused_and_audited(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    started = browser.start("acme")
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]

    response = browser.qplane.get(
        "/v1/sso/callback", params={"state": state, "error": "access_denied"}
    )

    assert response.status_code == 401
    assert "access_denied" in response.json()["detail"]
    assert sso_audit(platform, acme.id, Outcome.DENIED)


def test_the_authorization_request_uses_pkce_state_and_nonce(
    browser: Browser, acme: Tenant, idp_acme: OidcTestProvider
) -> None:
    started = browser.start("acme")

    assert started.status_code == 302
    location = started.headers["location"]
    assert location.startswith(idp_acme.issuer + "/auth?")
    query = parse_qs(urlsplit(location).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43
    assert len(query["nonce"][0]) >= 43
    assert query["redirect_uri"] == ["http://testserver/v1/sso/callback"]


def test_a_tenant_without_sso_answers_not_found(browser: Browser, acme: Tenant) -> None:
    assert browser.start("no-such-tenant").status_code == 404
    assert browser.start("acme", provider="other").status_code == 404


def test_a_rotated_idp_signing_key_is_fetched_once_and_accepted(
    browser: Browser, acme: Tenant, idp_acme: OidcTestProvider
) -> None:
    assert browser.login("acme", "bob", PASSWORD).status_code == 200  # JWKS now cached

    idp_acme.rotate_keys()
    response = browser.login("acme", "bob", PASSWORD)

    assert response.status_code == 200, response.text


def test_an_idp_account_cannot_take_over_an_existing_local_account(
    client: TestClient, platform: Platform, browser: Browser, acme: Tenant
) -> None:
    operator = mfa_headers(platform, OPERATOR_EMAIL)
    local = client.post(
        f"/v1/tenants/{acme.id}/users",
        json={"email": "bob@acme.test", "password": "local-password-1", "roles": ["viewer"]},
        headers=operator,
    )
    assert local.status_code == 201, local.text

    response = browser.login("acme", "bob", PASSWORD)

    assert response.status_code == 401
    assert "another qplane account" in response.json()["detail"]
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login("bob@acme.test")
    assert found is not None
    assert found[0].id == local.json()["id"]


def test_an_expired_login_flow_is_refused(
    platform: Platform, browser: Browser, acme: Tenant
) -> None:
    callback = browser.callback_url("acme", "bob", PASSWORD)
    with platform.database.unit_of_work() as uow:
        uow_session = uow.oidc_flows._session  # type: ignore[attr-defined]
        past = datetime.now(UTC) - timedelta(seconds=1)
        uow_session.execute(update(OidcLoginFlowRow).values(expires_at=past))
        uow.commit()

    response = browser.deliver(callback)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
