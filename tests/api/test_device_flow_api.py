"""RFC 8628 over HTTP: form-encoded requests, RFC 6749 error bodies, one redemption."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.identity.device import GRANT_TYPE
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, TenantCtx

CLIENT = "qplane-cli"


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API platform with a 1 s polling interval, so the tests need not wait 5 s."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        device_poll_interval_s=1,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


def _start(client: TestClient) -> dict[str, Any]:
    response = client.post("/v1/oauth/device_authorization", data={"client_id": CLIENT})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _poll(client: TestClient, device_code: str) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/v1/oauth/token",
        data={"grant_type": GRANT_TYPE, "device_code": device_code, "client_id": CLIENT},
    )
    return response.status_code, dict(response.json())


def test_device_authorization_response(client: TestClient) -> None:
    started = _start(client)
    assert set(started) == {
        "device_code", "user_code", "verification_uri", "verification_uri_complete",
        "expires_in", "interval",
    }  # fmt: skip
    assert started["verification_uri"] == "http://testserver/device"
    assert started["interval"] == 1
    page = client.get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 200
    assert started["user_code"] in page.text
    refused = client.post("/v1/oauth/device_authorization", data={"client_id": "evil"})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_happy_path_issues_the_session_exactly_once(client: TestClient, acme: TenantCtx) -> None:
    started = _start(client)
    assert _poll(client, started["device_code"]) == (
        400,
        {"error": "authorization_pending", "error_description": "the user has not approved yet"},
    )
    shown = client.get(
        "/v1/oauth/device", params={"user_code": started["user_code"]}, headers=acme.headers
    )
    assert shown.status_code == 200
    assert shown.json()["client_id"] == CLIENT
    approved = client.post(
        "/v1/oauth/device/approve", json={"user_code": started["user_code"]}, headers=acme.headers
    )
    assert approved.status_code == 204
    time.sleep(1.1)
    status, body = _poll(client, started["device_code"])
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"]
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["tenant_id"] == acme.tenant_id
    time.sleep(1.1)
    assert _poll(client, started["device_code"])[1]["error"] == "invalid_grant"


def test_polling_too_fast_answers_slow_down(client: TestClient) -> None:
    started = _start(client)
    assert _poll(client, started["device_code"])[1]["error"] == "authorization_pending"
    assert _poll(client, started["device_code"])[1]["error"] == "slow_down"


def test_denied(client: TestClient, acme: TenantCtx) -> None:
    started = _start(client)
    denied = client.post(
        "/v1/oauth/device/deny", json={"user_code": started["user_code"]}, headers=acme.headers
    )
    assert denied.status_code == 204
    assert _poll(client, started["device_code"])[1]["error"] == "access_denied"


def test_approval_needs_a_logged_in_user(client: TestClient) -> None:
    started = _start(client)
    response = client.post("/v1/oauth/device/approve", json={"user_code": started["user_code"]})
    assert response.status_code == 401


def test_unknown_user_code_is_not_found(client: TestClient, acme: TenantCtx) -> None:
    response = client.post(
        "/v1/oauth/device/approve", json={"user_code": "BBBB-BBBB"}, headers=acme.headers
    )
    assert response.status_code == 404


def test_token_endpoint_requires_form_encoding(client: TestClient) -> None:
    response = client.post("/v1/oauth/device_authorization", json={"client_id": CLIENT})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
