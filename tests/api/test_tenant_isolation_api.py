"""Tenant B, holding a valid token, learns nothing of tenant A's jobs, results or audit.

Every tenant-scoped endpoint is tried with A's real ids under B's token; each
answer must be exactly what a non-existent id gets.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.domain import ids
from tests.api.conftest import InProcessWorker, TenantCtx
from tests.api.test_jobs_api import run_leased_job, submit


def _shape(response: object) -> tuple[int, str, str]:
    from httpx import Response

    assert isinstance(response, Response)
    body = response.json()
    return response.status_code, body["type"], body["detail"]


def test_other_tenant_ids_answer_exactly_like_missing_ones(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    job_id = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    ghost_job, ghost_project = ids.new_id(ids.JOB), ids.new_id(ids.PROJECT)
    ghost_tenant = ids.new_id(ids.TENANT)
    probes = [
        ("GET", "/v1/jobs/{job}"),
        ("GET", "/v1/jobs/{job}/result"),
        ("GET", "/v1/jobs/{job}/circuit"),
        ("GET", "/v1/jobs/{job}/log"),
        ("POST", "/v1/jobs/{job}/cancel"),
        ("GET", "/v1/projects/{project}/jobs"),
        ("GET", "/v1/tenants/{tenant}/projects"),
        ("GET", "/v1/tenants/{tenant}/users"),
    ]
    for method, template in probes:
        real = template.format(job=job_id, project=acme.project_id, tenant=acme.tenant_id)
        fake = template.format(job=ghost_job, project=ghost_project, tenant=ghost_tenant)
        against_a = client.request(method, real, headers=globex.headers)
        against_nothing = client.request(method, fake, headers=globex.headers)
        assert against_a.status_code == 404, (method, real, against_a.text)
        assert _shape(against_a)[:2] == _shape(against_nothing)[:2], (method, template)


def test_submitting_into_another_tenants_project_is_not_found(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    response = submit(client, globex, project_id=acme.project_id)
    assert response.status_code == 404


def test_creating_users_in_another_tenant_is_not_found(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "mole@globex.test", "password": "developer-pass-1"},
        headers=globex.headers,
    )
    assert response.status_code == 404


def test_nothing_of_a_appears_in_b_lists_or_audit(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    job_id = submit(client, acme).json()["id"]
    own = client.get(f"/v1/projects/{globex.project_id}/jobs", headers=globex.headers).json()
    assert own["items"] == []
    entries = client.get("/v1/audit/entries?limit=200", headers=globex.headers).json()["items"]
    assert entries, "B's own actions are audited"
    text = str(entries)
    for secret in (job_id, acme.tenant_id, acme.project_id):
        assert secret not in text


def test_a_worker_token_is_not_a_tenant_token(client: TestClient, worker: InProcessWorker) -> None:
    assert client.get("/v1/backends", headers=worker.headers).status_code == 401


def test_a_user_token_cannot_lease_jobs(client: TestClient, acme: TenantCtx) -> None:
    response = client.post("/internal/v1/leases", json={}, headers=acme.headers)
    assert response.status_code == 401
