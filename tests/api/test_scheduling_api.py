"""Per-tenant queues, served in turn by fair share, each tenant held to its running limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import InProcessWorker, TenantCtx, make_tenant
from tests.api.test_device_scheduling import lease, release
from tests.api.test_jobs_api import submit


def test_a_flooding_tenant_takes_turns_with_the_others(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    owner = {}
    for _ in range(4):
        owner[submit(client, acme).json()["id"]] = "acme"
    for _ in range(2):
        owner[submit(client, globex).json()["id"]] = "globex"
    served = []
    while (granted := lease(client, worker)) is not None:
        served.append(owner[granted["job_id"]])
        release(client, worker, granted["lease_id"])
    assert served == ["acme", "globex", "acme", "globex", "acme", "acme"] or served == [
        "globex",
        "acme",
        "globex",
        "acme",
        "acme",
        "acme",
    ]


def test_a_tenant_at_its_running_limit_waits_while_others_run(
    client: TestClient, operator_headers: dict[str, str], worker: InProcessWorker
) -> None:
    tight = make_tenant(client, operator_headers, "tight")
    limited = client.post(
        "/v1/tenants", json={"name": "limited", "max_running_jobs": 1}, headers=operator_headers
    ).json()
    assert limited["max_running_jobs"] == 1
    # "tight" keeps the default limit; "limited" gets one running slot.
    one_slot = _one_slot_tenant(client, operator_headers, limited["id"])
    first = submit(client, one_slot).json()["id"]
    second = submit(client, one_slot).json()["id"]
    other = submit(client, tight).json()["id"]

    leased = [lease(client, worker) for _ in range(3)]
    got = [g["job_id"] if g else None for g in leased]
    assert sorted(filter(None, got)) == sorted([first, other])
    assert got[-1] is None, "the one-slot tenant must wait for its running job"
    assert client.get(f"/v1/jobs/{second}", headers=one_slot.headers).json()["state"] == "queued"

    running = next(g for g in leased if g and g["job_id"] == first)
    release(client, worker, running["lease_id"])
    follow_up = lease(client, worker)
    assert follow_up is not None
    assert follow_up["job_id"] == second


def _one_slot_tenant(
    client: TestClient, operator_headers: dict[str, str], tenant_id: str
) -> TenantCtx:
    from tests.api.conftest import login

    project = client.post(
        f"/v1/tenants/{tenant_id}/projects", json={"name": "main"}, headers=operator_headers
    ).json()
    client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={
            "email": "admin@limited.test",
            "password": "tenant-password-1",
            "roles": ["tenant_admin", "member"],
        },
        headers=operator_headers,
    )
    token = login(client, "admin@limited.test", "tenant-password-1")
    return TenantCtx(tenant_id, project["id"], token, "admin@limited.test")


def test_a_stale_lease_cannot_report_a_result(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    submit(client, acme)
    granted = lease(client, worker)
    assert granted is not None
    release(client, worker, granted["lease_id"])
    again = client.post(
        f"/internal/v1/leases/{granted['lease_id']}/failure",
        json={"reason": "twice"},
        headers=worker.headers,
    )
    assert again.status_code == 404
