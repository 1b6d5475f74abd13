"""Operators create tenants and projects; tenant admins create users in their own tenant."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import TenantCtx, login


def test_operator_creates_and_lists_tenants(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    created = client.post(
        "/v1/tenants", json={"name": "initech", "max_running_jobs": 2}, headers=operator_headers
    )
    assert created.status_code == 201
    listed = client.get("/v1/tenants", headers=operator_headers).json()
    assert [t["name"] for t in listed] == ["initech"]


def test_duplicate_tenant_name_is_a_conflict(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    client.post("/v1/tenants", json={"name": "initech"}, headers=operator_headers)
    again = client.post("/v1/tenants", json={"name": "initech"}, headers=operator_headers)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/conflict")


def test_bad_tenant_name_is_a_validation_problem(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    response = client.post("/v1/tenants", json={"name": "Not A Slug"}, headers=operator_headers)
    assert response.status_code == 422
    assert response.json()["field"] == "name"


def test_tenant_admin_cannot_create_tenants(client: TestClient, acme: TenantCtx) -> None:
    response = client.post("/v1/tenants", json={"name": "rogue"}, headers=acme.headers)
    assert response.status_code == 403


def test_tenant_admin_creates_a_member_who_can_log_in(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "developer-pass-1", "roles": ["member"]},
        headers=acme.headers,
    )
    assert response.status_code == 201
    assert response.json()["roles"] == ["member"]
    token = login(client, "dev@acme.test", "developer-pass-1")
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["tenant_id"] == acme.tenant_id


def test_tenant_admin_cannot_grant_the_operator_role(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "evil@acme.test", "password": "developer-pass-1", "roles": ["operator"]},
        headers=acme.headers,
    )
    assert response.status_code == 422


def test_member_cannot_create_users(client: TestClient, acme: TenantCtx) -> None:
    client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "developer-pass-1", "roles": ["member"]},
        headers=acme.headers,
    )
    member = {"Authorization": f"Bearer {login(client, 'dev@acme.test', 'developer-pass-1')}"}
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "x@acme.test", "password": "developer-pass-1"},
        headers=member,
    )
    assert response.status_code == 403


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, acme: TenantCtx
) -> None:
    wrong = client.post("/v1/auth/login", json={"email": acme.email, "password": "nope-nope-nope"})
    unknown = client.post(
        "/v1/auth/login", json={"email": "ghost@acme.test", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_access_tokens_are_short_lived(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        "/v1/auth/login", json={"email": acme.email, "password": "tenant-password-1"}
    )
    assert 0 < response.json()["expires_in"] <= 900


def test_a_tenant_carries_the_time_zone_and_region_policies_decide_on(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    created = client.post(
        "/v1/tenants",
        json={"name": "initech", "timezone": "Europe/Berlin", "region": "eu-west"},
        headers=operator_headers,
    )
    assert created.status_code == 201, created.text
    assert (created.json()["timezone"], created.json()["region"]) == ("Europe/Berlin", "eu-west")

    moved = client.patch(
        f"/v1/tenants/{created.json()['id']}",
        json={"timezone": "America/New_York"},
        headers=operator_headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["timezone"], moved.json()["region"]) == ("America/New_York", "eu-west")
    listed = client.get("/v1/tenants", headers=operator_headers).json()
    assert listed[0]["timezone"] == "America/New_York"


def test_an_unknown_time_zone_or_bad_region_is_refused(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    for body, field in [
        ({"name": "initech", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "initech", "timezone": "../../etc/passwd"}, "timezone"),
        ({"name": "initech", "region": "EU West"}, "region"),
    ]:
        response = client.post("/v1/tenants", json=body, headers=operator_headers)
        assert response.status_code == 422, body
        assert response.json()["field"] == field
    assert client.get("/v1/tenants", headers=operator_headers).json() == []


def test_a_tenant_admin_cannot_move_its_own_data_region(
    client: TestClient, acme: TenantCtx
) -> None:
    response = client.patch(
        f"/v1/tenants/{acme.tenant_id}", json={"region": "us-east"}, headers=acme.headers
    )
    assert response.status_code == 403
