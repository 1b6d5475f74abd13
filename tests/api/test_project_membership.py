"""Project membership: members and viewers work only in the projects they belong to.

Tenant admins reach every project of their tenant; anyone else needs a
membership, granted by an admin here or by an IdP group mapping at SSO
login (see tests/identity/oidc and tests/identity/saml). Losing it takes
effect on the next request, and another project answers like a missing one.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import BELL, TenantCtx, login

PASSWORD = "member-password-1"


def _user(
    client: TestClient, tenant: TenantCtx, email: str, roles: list[str], projects: list[str]
) -> tuple[str, dict[str, str]]:
    created = client.post(
        f"/v1/tenants/{tenant.tenant_id}/users",
        json={"email": email, "password": PASSWORD, "roles": roles, "projects": projects},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], {"Authorization": f"Bearer {login(client, email, PASSWORD)}"}


def _project(client: TestClient, tenant: TenantCtx, name: str) -> str:
    created = client.post(
        f"/v1/tenants/{tenant.tenant_id}/projects", json={"name": name}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


def _submit(client: TestClient, headers: dict[str, str], project_id: str) -> int:
    body = {"project_id": project_id, "source": BELL, "backend": "aer_statevector", "shots": 10}
    return client.post("/v1/jobs", json=body, headers=headers).status_code


def _members_url(tenant: TenantCtx, project_id: str, principal_id: str = "") -> str:
    base = f"/v1/tenants/{tenant.tenant_id}/projects/{project_id}/members"
    return f"{base}/{principal_id}" if principal_id else base


def test_a_member_without_membership_cannot_see_or_use_the_project(
    client: TestClient, acme: TenantCtx
) -> None:
    _, headers = _user(client, acme, "dev@acme.test", ["member"], [])

    assert _submit(client, headers, acme.project_id) == 404
    listed = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=headers)
    assert listed.status_code == 404
    assert listed.json()["detail"] == "project not found"
    projects = client.get(f"/v1/tenants/{acme.tenant_id}/projects", headers=headers).json()
    assert projects == []


def test_membership_granted_at_creation_lets_a_member_submit(
    client: TestClient, acme: TenantCtx
) -> None:
    _, headers = _user(client, acme, "dev@acme.test", ["member"], [acme.project_id])

    assert _submit(client, headers, acme.project_id) == 201
    projects = client.get(f"/v1/tenants/{acme.tenant_id}/projects", headers=headers).json()
    assert [p["id"] for p in projects] == [acme.project_id]


def test_an_admin_grants_and_revokes_membership_with_effect_on_the_next_request(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    principal_id, headers = _user(client, acme, "dev@acme.test", ["member"], [])

    granted = client.put(_members_url(acme, acme.project_id, principal_id), headers=acme.headers)
    assert granted.status_code == 200, granted.text
    assert granted.json()["source"] == "manual"
    assert _submit(client, headers, acme.project_id) == 201  # same token, no re-login
    members = client.get(_members_url(acme, acme.project_id), headers=acme.headers).json()
    assert [(m["principal_id"], m["source"]) for m in members] == [(principal_id, "manual")]

    removed = client.delete(_members_url(acme, acme.project_id, principal_id), headers=acme.headers)
    assert removed.status_code == 204
    assert _submit(client, headers, acme.project_id) == 404
    again = client.delete(_members_url(acme, acme.project_id, principal_id), headers=acme.headers)
    assert again.status_code == 404

    with platform.database.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.entries(acme.tenant_id)]
    assert "project.member.add" in actions
    assert "project.member.remove" in actions


def test_granting_is_idempotent(client: TestClient, acme: TenantCtx) -> None:
    principal_id, _ = _user(client, acme, "dev@acme.test", ["member"], [])
    url = _members_url(acme, acme.project_id, principal_id)

    assert client.put(url, headers=acme.headers).status_code == 200
    assert client.put(url, headers=acme.headers).status_code == 200
    members = client.get(_members_url(acme, acme.project_id), headers=acme.headers).json()
    assert len(members) == 1


def test_a_member_of_one_project_cannot_read_jobs_of_another(
    client: TestClient, acme: TenantCtx
) -> None:
    other = _project(client, acme, "secret-lab")
    body = {"project_id": other, "source": BELL, "backend": "aer_statevector", "shots": 10}
    job = client.post("/v1/jobs", json=body, headers=acme.headers).json()
    _, headers = _user(client, acme, "dev@acme.test", ["member"], [acme.project_id])

    for method, url in [
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/result"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
        ("GET", f"/v1/projects/{other}/jobs"),
    ]:
        response = client.request(method, url, headers=headers)
        assert response.status_code == 404, (method, url, response.text)
    assert _submit(client, headers, other) == 404
    still_there = client.get(f"/v1/jobs/{job['id']}", headers=acme.headers).json()
    assert still_there["state"] != "cancelled"


def test_a_viewer_member_reads_but_does_not_submit(client: TestClient, acme: TenantCtx) -> None:
    _, headers = _user(client, acme, "viewer@acme.test", ["viewer"], [acme.project_id])

    assert client.get(f"/v1/projects/{acme.project_id}/jobs", headers=headers).status_code == 200
    assert _submit(client, headers, acme.project_id) == 403


def test_only_tenant_admins_manage_membership(client: TestClient, acme: TenantCtx) -> None:
    principal_id, headers = _user(client, acme, "dev@acme.test", ["member"], [acme.project_id])

    url = _members_url(acme, acme.project_id, principal_id)
    assert client.put(url, headers=headers).status_code == 403
    assert client.delete(url, headers=headers).status_code == 403
    assert client.get(_members_url(acme, acme.project_id), headers=headers).status_code == 403
    creating = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "x@acme.test", "password": PASSWORD, "projects": [acme.project_id]},
        headers=headers,
    )
    assert creating.status_code == 403


def test_membership_never_crosses_tenants(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    acme_user, _ = _user(client, acme, "dev@acme.test", ["member"], [])
    globex_user, _ = _user(client, globex, "dev@globex.test", ["member"], [])

    # Globex's admin cannot touch acme's project, with or without acme's user.
    cross = [
        ("PUT", _members_url(acme, acme.project_id, globex_user)),
        ("PUT", _members_url(acme, acme.project_id, acme_user)),
        ("GET", _members_url(acme, acme.project_id)),
        ("DELETE", _members_url(acme, acme.project_id, acme_user)),
    ]
    for method, url in cross:
        response = client.request(method, url, headers=globex.headers)
        assert response.status_code == 404, (method, url, response.text)
    # Acme's admin cannot make globex's user a member of acme's project…
    response = client.put(_members_url(acme, acme.project_id, globex_user), headers=acme.headers)
    assert response.status_code == 404
    # …nor of globex's project through acme's tenant path.
    response = client.put(
        f"/v1/tenants/{acme.tenant_id}/projects/{globex.project_id}/members/{acme_user}",
        headers=acme.headers,
    )
    assert response.status_code == 404
    created = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "y@acme.test", "password": PASSWORD, "projects": [globex.project_id]},
        headers=acme.headers,
    )
    assert created.status_code == 404
    listed = client.get(f"/v1/tenants/{acme.tenant_id}/users", headers=acme.headers).json()
    assert "y@acme.test" not in [u["email"] for u in listed]  # nothing half-created


def test_tenant_admins_reach_every_project_without_membership(
    client: TestClient, acme: TenantCtx
) -> None:
    other = _project(client, acme, "secret-lab")

    assert _submit(client, acme.headers, other) == 201
