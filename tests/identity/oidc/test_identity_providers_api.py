"""Registering a tenant's IdP: admins only, secrets sealed and never echoed, changes privileged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from qplane.bootstrap import Platform
from qplane.domain.errors import IntegrityError
from qplane.identity.oidc.sealing import open_client_secret
from qplane.store.models_oidc import OidcProviderRow
from tests.identity.oidc.conftest import (
    ACME_CLIENT,
    PASSWORD,
    Tenant,
    make_tenant,
    mfa_headers,
    provider_body,
)
from tests.idp.harness import Browser, OidcTestProvider

SECRET = ACME_CLIENT.client_secret


@pytest.fixture
def tenant(client: TestClient, platform: Platform) -> Tenant:
    return make_tenant(client, platform, "acme")


def _url(tenant: Tenant, provider_id: str = "") -> str:
    base = f"/v1/tenants/{tenant.id}/identity-providers"
    return f"{base}/{provider_id}" if provider_id else base


def _register(
    client: TestClient, platform: Platform, tenant: Tenant, idp: OidcTestProvider
) -> dict[str, object]:
    response = client.post(
        _url(tenant),
        json=provider_body(tenant, idp, ACME_CLIENT),
        headers=mfa_headers(platform, tenant.admin_email),
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_the_client_secret_is_never_echoed(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    created = _register(client, platform, tenant, idp_acme)
    headers = mfa_headers(platform, tenant.admin_email)
    listed = client.get(_url(tenant), headers=headers)
    one = client.get(_url(tenant, str(created["id"])), headers=headers)
    patched = client.patch(
        _url(tenant, str(created["id"])), json={"client_secret": "rotated-secret"}, headers=headers
    )

    for response in (listed, one, patched):
        assert response.status_code == 200, response.text
        assert SECRET not in response.text
        assert "rotated-secret" not in response.text
    assert created["client_secret_set"] is True
    assert "client_secret" not in created


def test_the_client_secret_is_stored_sealed_and_bound_to_its_provider(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    created = _register(client, platform, tenant, idp_acme)
    other = client.post(
        _url(tenant),
        json=provider_body(tenant, idp_acme, ACME_CLIENT) | {"name": "backup"},
        headers=mfa_headers(platform, tenant.admin_email),
    ).json()
    keys = platform.key_hierarchy

    with platform.database.unit_of_work() as uow:
        rows = {
            row.id: row
            for row in uow.oidc_providers._session.scalars(select(OidcProviderRow))  # type: ignore[attr-defined]
        }
        stored = rows[str(created["id"])]
        assert SECRET.encode() not in stored.secret_ciphertext
        opened = open_client_secret(keys, uow, tenant.id, str(created["id"]))
        assert opened.reveal() == SECRET.encode()
        assert SECRET not in repr(opened)
        # Moved onto another provider's row, the sealed secret no longer opens.
        moved = rows[str(other["id"])]
        moved.secret_ciphertext = stored.secret_ciphertext
        moved.secret_nonce = stored.secret_nonce
        moved.secret_wrapped_key = stored.secret_wrapped_key
        uow.oidc_providers._session.flush()  # type: ignore[attr-defined]
        with pytest.raises(IntegrityError):
            open_client_secret(keys, uow, tenant.id, str(other["id"]))


def test_a_member_cannot_manage_identity_providers(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    operator = mfa_headers(platform, "ops@qplane.test")
    client.post(
        f"/v1/tenants/{tenant.id}/users",
        json={"email": "m@acme.test", "password": "member-password-1", "roles": ["member"]},
        headers=operator,
    )
    member = mfa_headers(platform, "m@acme.test")

    assert client.get(_url(tenant), headers=member).status_code == 403
    body = provider_body(tenant, idp_acme, ACME_CLIENT)
    assert client.post(_url(tenant), json=body, headers=member).status_code == 403


def test_another_tenants_admin_sees_not_found(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    created = _register(client, platform, tenant, idp_acme)
    other = make_tenant(client, platform, "globex")
    headers = mfa_headers(platform, other.admin_email)

    assert client.get(_url(tenant), headers=headers).status_code == 404
    assert client.get(_url(tenant, str(created["id"])), headers=headers).status_code == 404
    own_url = f"/v1/tenants/{other.id}/identity-providers/{created['id']}"
    assert client.get(own_url, headers=headers).status_code == 404
    assert client.delete(own_url, headers=headers).status_code == 404


def test_changing_an_idp_needs_a_recent_mfa(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    password_only = client.post(
        "/v1/auth/login", json={"email": tenant.admin_email, "password": "tenant-password-1"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {password_only}"}

    response = client.post(
        _url(tenant), json=provider_body(tenant, idp_acme, ACME_CLIENT), headers=headers
    )

    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"issuer": "ftp://idp.test"}, "issuer"),
        ({"allowed_domains": ["not a domain"]}, "allowed_domains"),
        ({"role_mappings": [{"value": "g", "roles": ["operator"]}]}, "role_mappings"),
        ({"role_mappings": [{"claim": "aud", "value": "x", "roles": ["member"]}]}, "role_mappings"),
        ({"token_auth_method": "none"}, "token_auth_method"),
        ({"name": "Not A Slug"}, "name"),
    ],
)
def test_invalid_settings_are_refused(
    client: TestClient,
    platform: Platform,
    tenant: Tenant,
    idp_acme: OidcTestProvider,
    changes: dict[str, object],
    field: str,
) -> None:
    body = provider_body(tenant, idp_acme, ACME_CLIENT) | changes
    response = client.post(
        _url(tenant), json=body, headers=mfa_headers(platform, tenant.admin_email)
    )
    assert response.status_code == 422, response.text
    assert SECRET not in response.text


def test_a_project_of_another_tenant_cannot_be_mapped(
    client: TestClient, platform: Platform, tenant: Tenant, idp_acme: OidcTestProvider
) -> None:
    other = make_tenant(client, platform, "globex")
    body = provider_body(tenant, idp_acme, ACME_CLIENT)
    body["project_mappings"] = [{"value": "physics", "project_id": other.project_id}]

    response = client.post(
        _url(tenant), json=body, headers=mfa_headers(platform, tenant.admin_email)
    )

    assert response.status_code == 404


def test_update_changes_mappings_and_remove_ends_sso(
    client: TestClient,
    platform: Platform,
    browser: Browser,
    tenant: Tenant,
    idp_acme: OidcTestProvider,
) -> None:
    created = _register(client, platform, tenant, idp_acme)
    headers = mfa_headers(platform, tenant.admin_email)
    patched = client.patch(
        _url(tenant, str(created["id"])),
        json={"role_mappings": [{"value": "qplane-users", "roles": ["viewer"]}]},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    token = browser.login("acme", "bob", PASSWORD).json()["access_token"]
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["roles"] == ["viewer"]

    removed = client.delete(_url(tenant, str(created["id"])), headers=headers)

    assert removed.status_code == 204
    assert browser.start("acme").status_code == 404
    assert client.get(_url(tenant), headers=headers).json() == []
