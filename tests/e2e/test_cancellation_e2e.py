"""Cancelling a running job, or running past its time limit, stops the run on the worker:
the job ends with a clear reason, nothing is reported twice, and the worker moves on."""

from __future__ import annotations

import time

import pytest

from qplane.sdk import QplaneClient
from tests.e2e.conftest import Starter, operator_client, tenant_client
from tests.e2e.test_worker_failover_e2e import slow_circuit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BELL = (
    'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2];'
    " h q[0]; cx q[0],q[1]; measure q -> c;"
)
#: Minutes of statevector work: only a run that is really stopped lets the next job through.
ENDLESS = slow_circuit(qubits=22, layers=600)


def _wait_for_state(client: QplaneClient, job_id: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.job(job_id)["state"] != state:
        assert time.monotonic() < deadline, f"job never reached {state}"
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cancelled_and_overdue_runs_are_stopped_on_the_worker(start_platform: Starter) -> None:
    embedded = start_platform(workers=1)
    with operator_client(embedded) as operator:
        tenant, project = tenant_client(operator, embedded.url, "acme")

    overdue = tenant.submit(project, ENDLESS, "aer_statevector", 100, time_limit_s=2)["id"]
    final = tenant.wait(overdue, timeout=60)
    assert final["state"] == "failed"
    assert "time limit of 2 s" in final["reason"]

    running = tenant.submit(project, ENDLESS, "aer_statevector", 100)["id"]
    _wait_for_state(tenant, running, "running", timeout=60)
    cancelled = tenant.cancel(running)
    assert cancelled["state"] == "cancelled", "a cancel answers at once, whatever the worker does"

    started = time.monotonic()
    follow_up = tenant.submit(project, BELL, "aer_statevector", 100)["id"]
    assert tenant.wait(follow_up, timeout=60)["state"] == "verified"
    assert time.monotonic() - started < 30, "the single worker was freed, not left running"
    history = [step["state"] for step in tenant.job(running)["history"]]
    assert history.count("running") == 1
    assert "succeeded" not in history
