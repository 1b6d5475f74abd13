"""By default there are no API keys: none can be created, and none is accepted."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import TenantCtx


def test_api_keys_are_off_by_default(platform: Platform) -> None:
    assert platform.settings.api_keys_enabled is False


def test_tenant_admin_cannot_create_a_key_unless_the_operator_enabled_them(
    client: TestClient, acme: TenantCtx
) -> None:
    body = {"project_id": acme.project_id, "name": "legacy"}
    response = client.post("/v1/api-keys", json=body, headers=acme.headers)
    assert response.status_code == 403
    assert client.get("/v1/api-keys", headers=acme.headers).json() == []


def test_key_shaped_bearer_is_refused(client: TestClient) -> None:
    fake = "qpk_" + "0" * 32 + "_" + "x" * 43
    response = client.get("/v1/backends", headers={"Authorization": f"Bearer {fake}"})
    assert (response.status_code, response.json()["detail"]) == (401, "api keys are disabled")
