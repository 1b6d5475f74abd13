"""Every error is RFC 9457 problem+json with a stable type, and never a stack trace."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import TenantCtx

PROBLEM = "application/problem+json"


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "qplane"
    assert "/v1/jobs" in spec["paths"]


def test_health_and_readiness_answer_without_a_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["schema"] != "none"


def test_jwks_publishes_public_keys_only(client: TestClient) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all("d" not in key and key["kty"] == "OKP" for key in keys)


def test_missing_token_is_a_401_problem(client: TestClient) -> None:
    response = client.get("/v1/backends")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "https://qplane.dev/problems/unauthenticated"
    assert body["status"] == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_garbage_token_is_refused_without_echoing_it(client: TestClient) -> None:
    response = client.get("/v1/backends", headers={"Authorization": "Bearer not.a.jwt-secret"})
    assert response.status_code == 401
    assert "not.a.jwt-secret" not in response.text


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_unknown_fields_are_refused(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        "/v1/jobs",
        json={
            "project_id": acme.project_id,
            "source": "x",
            "backend": "aer_statevector",
            "priority": "ultra",
        },
        headers=acme.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "priority" in response.json()["detail"]


def test_malformed_json_is_a_422_problem(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        "/v1/jobs",
        content=b"{not json",
        headers={**acme.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-failed")


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "req-from-client-123"})
    assert response.headers["x-request-id"] == "req-from-client-123"
    generated = client.get("/v1/backends")
    assert generated.json()["request_id"] == generated.headers["x-request-id"]


def test_an_oversized_body_is_refused_before_it_is_read(
    client: TestClient, acme: TenantCtx
) -> None:
    huge = "x" * (4 * 1024 * 1024)
    response = client.post(
        "/v1/jobs", content=huge, headers={**acme.headers, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")
