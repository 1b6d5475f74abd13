"""Several worker processes serve one control plane; every job runs exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.conftest import Starter, operator_client, tenant_client
from tests.e2e.test_worker_failover_e2e import slow_circuit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_three_workers_share_the_work_and_run_each_job_once(start_platform: Starter) -> None:
    embedded = start_platform(workers=3)
    with operator_client(embedded) as operator:
        tenants = [tenant_client(operator, embedded.url, name) for name in ("acme", "globex")]
    circuit = slow_circuit(qubits=18, layers=40)
    submitted = [
        (client, client.submit(project, circuit, "aer_statevector", 200)["id"])
        for client, project in tenants
        for _ in range(4)
    ]
    runners: Counter[str] = Counter()
    for client, job_id in submitted:
        final = client.wait(job_id, timeout=240)
        assert final["state"] == "verified", final
        states = [step["state"] for step in final["history"]]
        assert states.count("running") == 1
        assert states.count("succeeded") == 1
        running = client.audit_entries(target=job_id, action="job.running")["items"]
        assert len(running) == 1
        runners[running[0]["actor_id"]] += 1
    assert len(runners) >= 2, f"expected several workers to take jobs, got {runners}"
    assert all(actor.startswith("wrk_") for actor in runners)
