"""A person's password login can be bound to a DPoP key, like a workload's token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.sdk.dpop import DPoPKey
from tests.api.conftest import TenantCtx
from tests.api.workload_support import BASE, bearer, dpop_headers


def _login(client: TestClient, ctx: TenantCtx, key: DPoPKey | None) -> dict[str, str]:
    headers = {"DPoP": key.proof("POST", BASE + "/v1/auth/login")} if key else {}
    response = client.post(
        "/v1/auth/login",
        json={"email": ctx.email, "password": "tenant-password-1"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_a_login_with_a_proof_yields_a_bound_token(client: TestClient, acme: TenantCtx) -> None:
    key = DPoPKey.generate()
    body = _login(client, acme, key)
    assert body["token_type"] == "DPoP"
    token = body["access_token"]
    assert client.get("/v1/me", headers=dpop_headers(key, token, "GET", "/v1/me")).is_success
    assert client.get("/v1/me", headers=bearer(token)).status_code == 401
    other = DPoPKey.generate()
    assert (
        client.get("/v1/me", headers=dpop_headers(other, token, "GET", "/v1/me")).status_code == 401
    )


def test_a_login_without_a_proof_stays_a_bearer_token(client: TestClient, acme: TenantCtx) -> None:
    body = _login(client, acme, None)
    assert body["token_type"] == "Bearer"
    assert client.get("/v1/me", headers=bearer(body["access_token"])).is_success


def test_a_bad_proof_at_login_is_refused(client: TestClient, acme: TenantCtx) -> None:
    key = DPoPKey.generate()
    response = client.post(
        "/v1/auth/login",
        json={"email": acme.email, "password": "tenant-password-1"},
        headers={"DPoP": key.proof("GET", BASE + "/v1/auth/login")},
    )
    assert response.status_code == 401
