"""Where a tenant's queued job stands: its place among the tenant's own jobs, never others'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from qplane.domain import ids
from tests.api.conftest import TenantCtx
from tests.api.test_jobs_api import submit

BACKEND = "aer_density_matrix"


def queued(client: TestClient, tenant: TenantCtx, count: int) -> list[str]:
    made = [submit(client, tenant, backend=BACKEND) for _ in range(count)]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    return [str(r.json()["id"]) for r in made]


def position(client: TestClient, tenant: TenantCtx, job_id: str) -> Response:
    return client.get(f"/v1/jobs/{job_id}/queue", headers=tenant.headers)


def positions(client: TestClient, tenant: TenantCtx, jobs: list[str]) -> list[dict[str, Any]]:
    answers = [position(client, tenant, job) for job in jobs]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json() for a in answers]


def test_a_job_stands_among_its_own_tenants_jobs_only(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    queued(client, globex, 3)  # another tenant's work, queued first on the same backend
    first, second = queued(client, acme, 2)
    before = positions(client, acme, [first, second])

    queued(client, globex, 3)  # and more of it afterwards
    after = positions(client, acme, [first, second])

    assert [p["position"] for p in before] == [1, 2]
    assert [p["position"] for p in after] == [1, 2]
    assert {p["backend"] for p in after} == {BACKEND}
    assert after[1]["job_id"] == second
    start = datetime.fromisoformat(after[0]["estimated_start"])
    assert datetime.now(UTC) - timedelta(seconds=5) < start < datetime.now(UTC) + timedelta(hours=1)
    assert sorted(after[0]) == ["backend", "estimated_start", "job_id", "position", "waiting_for"]


def test_a_job_that_is_no_longer_queued_has_no_position(
    client: TestClient, acme: TenantCtx
) -> None:
    [job] = queued(client, acme, 1)
    assert client.post(f"/v1/jobs/{job}/cancel", headers=acme.headers).status_code == 200

    answer = position(client, acme, job)

    assert answer.status_code == 409, answer.text
    assert answer.json()["state"] == "cancelled"


def test_another_tenants_job_has_no_position_for_me(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    [job] = queued(client, acme, 1)
    real, made_up = position(client, globex, job), position(client, globex, ids.new_id(ids.JOB))
    assert (real.status_code, made_up.status_code) == (404, 404)
    assert real.json()["detail"] == made_up.json()["detail"]
