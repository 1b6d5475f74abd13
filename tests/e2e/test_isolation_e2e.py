"""The isolation suite: tenant B probes every job, result and audit endpoint of tenant A.

Runs the real server on loopback with a real worker process. Every probe
with A's ids must be refused exactly like a probe with ids that do not exist,
and nothing of A may appear in anything B can list.
"""

from __future__ import annotations

import pytest

from qplane.domain import ids
from qplane.sdk import QplaneAPIError, QplaneClient
from tests.api.conftest import BELL
from tests.e2e.conftest import Starter, operator_client, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _refusal(call: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(QplaneAPIError) as info:
        call()
    return info.value.status, info.value.type


def test_tenant_b_cannot_reach_anything_of_tenant_a(start_platform: Starter) -> None:
    embedded = start_platform(workers=1)
    with operator_client(embedded) as operator:
        a, a_project = tenant_client(operator, embedded.url, "acme")
        b, b_project = tenant_client(operator, embedded.url, "globex")
        a_tenant = a.whoami()["tenant_id"]
    a_jobs = [a.submit(a_project, BELL, "aer_statevector", 500)["id"] for _ in range(2)]
    b_job = b.submit(b_project, BELL, "aer_statevector", 500)["id"]
    for job_id in a_jobs:
        assert a.wait(job_id, timeout=120)["state"] == "verified"
    assert b.wait(b_job, timeout=120)["state"] == "verified"
    pending = a.submit(a_project, BELL, "aer_mps", 100)["id"]

    ghost_job, ghost_project = ids.new_id(ids.JOB), ids.new_id(ids.PROJECT)
    ghost_tenant = ids.new_id(ids.TENANT)
    missing = {
        "job": _refusal(lambda: b.job(ghost_job)),
        "result": _refusal(lambda: b.result(ghost_job)),
        "cancel": _refusal(lambda: b.cancel(ghost_job)),
        "list": _refusal(lambda: b.jobs(ghost_project)),
        "projects": _refusal(lambda: b.projects(ghost_tenant)),
        "submit": _refusal(lambda: b.submit(ghost_project, BELL, "aer_statevector", 10)),
    }
    assert {status for status, _ in missing.values()} == {404}
    for job_id in [*a_jobs, pending]:
        assert _refusal(lambda j=job_id: b.job(j)) == missing["job"]
        assert _refusal(lambda j=job_id: b.result(j)) == missing["result"]
        assert _refusal(lambda j=job_id: b.cancel(j)) == missing["cancel"]
    assert _refusal(lambda: b.jobs(a_project)) == missing["list"]
    assert _refusal(lambda: b.projects(a_tenant)) == missing["projects"]
    assert _refusal(lambda: b.submit(a_project, BELL, "aer_statevector", 10)) == missing["submit"]

    assert a.job(pending)["state"] != "cancelled", "B's cancel must not have touched A's job"
    seen_by_b = str(list(b.iter_jobs(b_project))) + str(b.audit_entries(limit=200))
    for secret in [*a_jobs, pending, a_project, a_tenant]:
        assert secret not in seen_by_b
    for job_id in a_jobs:
        assert b.audit_entries(target=job_id)["items"] == []
    assert a.audit_verify()["ok"]
    assert b.audit_verify()["ok"]


def test_operators_cannot_read_tenant_jobs(start_platform: Starter) -> None:
    embedded = start_platform(workers=0)
    with operator_client(embedded) as operator:
        a, a_project = tenant_client(operator, embedded.url, "acme")
        job_id = a.submit(a_project, BELL, "aer_statevector", 10)["id"]
        status, _ = _refusal(lambda: operator.job(job_id))
        assert status in {403, 404}


def test_clients_only_ever_see_their_own_tenant(start_platform: Starter) -> None:
    embedded = start_platform(workers=0)
    with operator_client(embedded) as operator:
        clients = [tenant_client(operator, embedded.url, f"tenant-{i}") for i in range(3)]
    for client, project in clients:
        client.submit(project, BELL, "aer_statevector", 10)
    for client, project in clients:
        jobs = list(client.iter_jobs(project))
        assert len(jobs) == 1
        assert {j["tenant_id"] for j in jobs} == {client.whoami()["tenant_id"]}
    assert isinstance(clients[0][0], QplaneClient)
