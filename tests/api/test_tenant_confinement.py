"""Every transaction of a tenant principal's request is confined to its tenant in PostgreSQL.

The store's row-level security only helps if the API tells the database
which tenant a request belongs to. These tests watch the setting from
inside a repository while real requests run.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from qplane.store.repositories.tenants import SqlTenantRepository
from tests.api.conftest import BELL, TenantCtx

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


@pytest.fixture
def seen_settings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``qplane.tenant_id`` setting of every transaction that reads tenants."""
    seen: list[str] = []

    def watch(name: str) -> None:
        original = getattr(SqlTenantRepository, name)

        def watching(self: SqlTenantRepository, *args: Any) -> Any:
            setting = self._session.execute(
                text("SELECT coalesce(current_setting('qplane.tenant_id', true), '')")
            ).scalar_one()
            seen.append(setting)
            return original(self, *args)

        monkeypatch.setattr(SqlTenantRepository, name, watching)

    watch("get")
    watch("list_all")
    return seen


def test_a_tenant_principals_request_runs_confined_to_its_tenant(
    client: TestClient, acme: TenantCtx, seen_settings: list[str]
) -> None:
    body = {"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"}
    submitted = client.post("/v1/jobs", json=body, headers=acme.headers)
    assert submitted.status_code == 201, submitted.text
    seen_settings.clear()

    fetched = client.get(f"/v1/jobs/{submitted.json()['id']}", headers=acme.headers)

    assert fetched.status_code == 200
    assert seen_settings
    assert set(seen_settings) == {acme.tenant_id}


def test_an_operators_request_is_not_confined(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str], seen_settings: list[str]
) -> None:
    seen_settings.clear()

    response = client.get("/v1/tenants", headers=operator_headers)

    assert response.status_code == 200
    assert acme.tenant_id in {t["id"] for t in response.json()}
    assert seen_settings
    assert set(seen_settings) == {""}


def test_the_confinement_ends_with_the_request(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, seen_settings: list[str]
) -> None:
    client.get(f"/v1/tenants/{acme.tenant_id}/projects", headers=acme.headers)
    seen_settings.clear()

    response = client.get(f"/v1/tenants/{globex.tenant_id}/projects", headers=globex.headers)

    assert response.status_code == 200
    assert set(seen_settings) == {globex.tenant_id}
