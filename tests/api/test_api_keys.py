"""Legacy API keys, with the operator setting on: one project, shown once, hashed, audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.store.models_sessions import ApiKeyRow
from tests.api.conftest import BELL, OPERATOR_EMAIL, OPERATOR_PASSWORD, TenantCtx


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        api_keys_enabled=True,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def second_project(client: TestClient, operator_headers: dict[str, str], acme: TenantCtx) -> str:
    created = client.post(
        f"/v1/tenants/{acme.tenant_id}/projects", json={"name": "other"}, headers=operator_headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _create(client: TestClient, ctx: TenantCtx, project_id: str, **extra: Any) -> Any:
    body = {"project_id": project_id, "name": "legacy-ci", **extra}
    return client.post("/v1/api-keys", json=body, headers=ctx.headers)


def _key_headers(client: TestClient, ctx: TenantCtx, project_id: str) -> dict[str, str]:
    created = _create(client, ctx, project_id)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def _submit(client: TestClient, headers: dict[str, str], project_id: str) -> Any:
    body = {"project_id": project_id, "source": BELL, "backend": "aer_statevector", "shots": 10}
    return client.post("/v1/jobs", json=body, headers=headers)


def test_key_is_shown_once_and_stored_only_as_a_digest(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    created = _create(client, acme, acme.project_id, ttl_days=7)
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert secret.startswith("qpk_")
    listed = client.get("/v1/api-keys", headers=acme.headers).json()
    assert [item["id"] for item in listed] == [created.json()["id"]]
    assert "key" not in listed[0]
    assert secret not in str(listed)
    with platform.database.engine.connect() as conn:
        rows = conn.execute(select(ApiKeyRow)).all()
    assert len(rows) == 1
    # qpk_<hex id>_<secret>; the secret itself may contain "_".
    raw_secret = secret.removeprefix("qpk_").partition("_")[2]
    assert len(raw_secret) >= 40
    assert all(raw_secret not in str(tuple(r)) for r in rows)


def test_key_acts_in_its_project_and_every_use_is_audited(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    headers = _key_headers(client, acme, acme.project_id)
    job = _submit(client, headers, acme.project_id)
    assert job.status_code == 201, job.text
    assert client.get(f"/v1/jobs/{job.json()['id']}", headers=headers).status_code == 200
    with platform.database.unit_of_work() as uow:
        uses = [e for e in uow.audit.entries(acme.tenant_id) if e.action == "api_key.use"]
    assert len(uses) == 2
    assert {e.target for e in uses} == {acme.project_id}


def test_key_cannot_read_or_submit_in_another_project_of_its_tenant(
    client: TestClient, acme: TenantCtx, second_project: str
) -> None:
    other_job = _submit(client, acme.headers, second_project)
    assert other_job.status_code == 201, other_job.text
    job_id = other_job.json()["id"]
    headers = _key_headers(client, acme, acme.project_id)
    assert _submit(client, headers, second_project).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}", headers=headers).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/result", headers=headers).status_code == 404
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=headers).status_code == 404
    assert client.get(f"/v1/projects/{second_project}/jobs", headers=headers).status_code == 404
    own = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=headers)
    assert own.status_code == 200
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "queued"


def test_key_cannot_reach_another_tenant(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    assert _create(client, acme, globex.project_id).status_code == 404
    headers = _key_headers(client, acme, acme.project_id)
    job = _submit(client, globex.headers, globex.project_id).json()["id"]
    assert client.get(f"/v1/jobs/{job}", headers=headers).status_code == 404


def test_key_never_holds_admin_powers(client: TestClient, acme: TenantCtx) -> None:
    assert _create(client, acme, acme.project_id, roles=["tenant_admin"]).status_code == 422
    headers = _key_headers(client, acme, acme.project_id)
    assert client.post("/v1/api-keys", json={"project_id": acme.project_id, "name": "x"},
                       headers=headers).status_code == 403  # fmt: skip
    assert client.get("/v1/audit/entries", headers=headers).status_code == 403
    assert client.post("/v1/revocations", json={"scope": "tenant", "id": acme.tenant_id},
                       headers=headers).status_code == 403  # fmt: skip


@pytest.mark.parametrize("ttl_days", [0, 91, 365])
def test_key_lifetime_is_bounded(client: TestClient, acme: TenantCtx, ttl_days: int) -> None:
    assert _create(client, acme, acme.project_id, ttl_days=ttl_days).status_code == 422


def test_only_tenant_admins_create_keys(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    body = {"project_id": acme.project_id, "name": "legacy"}
    assert client.post("/v1/api-keys", json=body, headers=operator_headers).status_code == 403


def test_revoked_key_stops_working_at_once(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    created = _create(client, acme, acme.project_id).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/backends", headers=headers).status_code == 200
    assert client.delete(f"/v1/api-keys/{created['id']}", headers=acme.headers).status_code == 204
    refused = client.get("/v1/backends", headers=headers)
    assert (refused.status_code, refused.json()["detail"]) == (401, "api key revoked")


def test_tenant_revocation_ends_its_keys(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    headers = _key_headers(client, acme, acme.project_id)
    revoked = client.post(
        "/v1/revocations", json={"scope": "tenant", "id": acme.tenant_id}, headers=operator_headers
    )
    assert revoked.status_code == 200
    assert client.get("/v1/backends", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-2] + ("AA" if not key.endswith("AA") else "BB"),
        lambda key: "qpk_" + "0" * 32 + "_" + key.split("_", 2)[2],
        lambda key: "qpk_garbage",
        lambda key: "qpk_" + "../../etc/passwd_x",
    ],
)
def test_wrong_keys_are_refused_and_audited(
    client: TestClient, platform: Platform, acme: TenantCtx, mangle: Any
) -> None:
    key = _create(client, acme, acme.project_id).json()["key"]
    response = client.get("/v1/backends", headers={"Authorization": f"Bearer {mangle(key)}"})
    assert (response.status_code, response.json()["detail"]) == (401, "api key invalid")
    with platform.database.unit_of_work() as uow:
        last = list(uow.audit.entries("platform"))[-1]
    assert (last.action, last.detail) == ("GET /v1/backends", "api key invalid")
