"""Tenant groups: named sets of principals that policies refer to (e.g. approvers).

Managing them is privileged (a group can lift a policy limit), confined to
the tenant, audited, and takes effect on the caller's next request.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import TenantCtx, login, with_mfa

PASSWORD = "member-password-1"


def _user(client: TestClient, tenant: TenantCtx, email: str) -> tuple[str, dict[str, str]]:
    created = client.post(
        f"/v1/tenants/{tenant.tenant_id}/users",
        json={"email": email, "password": PASSWORD, "roles": ["member"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], {"Authorization": f"Bearer {login(client, email, PASSWORD)}"}


def _url(tenant: TenantCtx, group: str, principal_id: str) -> str:
    return f"/v1/tenants/{tenant.tenant_id}/groups/{group}/members/{principal_id}"


def test_an_admin_puts_a_user_in_a_group_seen_on_the_next_request(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    user_id, headers = _user(client, acme, "dev@acme.test")

    added = client.put(_url(acme, "approvers", user_id), headers=admin.headers)
    assert added.status_code == 200, added.text
    assert client.get("/v1/me", headers=headers).json()["groups"] == ["approvers"]
    listed = client.get(f"/v1/tenants/{acme.tenant_id}/groups", headers=admin.headers).json()
    assert listed == [
        {
            "name": "approvers",
            "members": [
                {
                    "principal_id": user_id,
                    "source": "manual",
                    "created_at": listed[0]["members"][0]["created_at"],
                }
            ],
        }
    ]

    removed = client.delete(_url(acme, "approvers", user_id), headers=admin.headers)
    assert removed.status_code == 204
    assert client.get("/v1/me", headers=headers).json()["groups"] == []
    with platform.database.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.entries(acme.tenant_id)]
    assert {"group.member.add", "group.member.remove"} <= set(actions)


def test_managing_groups_needs_a_recent_mfa(client: TestClient, acme: TenantCtx) -> None:
    user_id, _ = _user(client, acme, "dev@acme.test")

    response = client.put(_url(acme, "approvers", user_id), headers=acme.headers)

    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.headers["www-authenticate"]


def test_members_cannot_manage_or_read_groups(client: TestClient, acme: TenantCtx) -> None:
    user_id, headers = _user(client, acme, "dev@acme.test")

    assert client.put(_url(acme, "approvers", user_id), headers=headers).status_code == 403
    assert client.get(f"/v1/tenants/{acme.tenant_id}/groups", headers=headers).status_code == 403


def test_a_bad_group_name_is_refused(client: TestClient, acme: TenantCtx) -> None:
    admin = with_mfa(client, acme)
    user_id, _ = _user(client, acme, "dev@acme.test")

    response = client.put(_url(acme, "-approvers", user_id), headers=admin.headers)

    assert response.status_code == 422
    assert response.json()["field"] == "group"


def test_groups_never_cross_tenants(client: TestClient, acme: TenantCtx, globex: TenantCtx) -> None:
    acme_admin, globex_admin = with_mfa(client, acme), with_mfa(client, globex)
    acme_user, _ = _user(client, acme, "dev@acme.test")
    globex_user, _ = _user(client, globex, "dev@globex.test")

    # Globex's admin cannot put anyone in acme's groups, nor read them.
    assert (
        client.put(_url(acme, "approvers", acme_user), headers=globex_admin.headers).status_code
        == 404
    )
    assert (
        client.put(_url(acme, "approvers", globex_user), headers=globex_admin.headers).status_code
        == 404
    )
    listed = client.get(f"/v1/tenants/{acme.tenant_id}/groups", headers=globex_admin.headers)
    assert listed.status_code == 404
    # Acme's admin cannot put globex's user in an acme group.
    assert (
        client.put(_url(acme, "approvers", globex_user), headers=acme_admin.headers).status_code
        == 404
    )
    assert (
        client.get(f"/v1/tenants/{acme.tenant_id}/groups", headers=acme_admin.headers).json() == []
    )
