"""A worker killed mid-job loses nothing: the job is leased again and completes exactly once."""

from __future__ import annotations

import signal
import time

import pytest

from qplane.sdk import QplaneClient
from tests.e2e.conftest import Starter, operator_client, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def slow_circuit(qubits: int = 20, layers: int = 120) -> str:
    """A circuit that keeps a statevector simulator busy for a few seconds."""
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{qubits}];", f"creg c[{qubits}];"]
    for layer in range(layers):
        lines += [f"h q[{i}];" for i in range(qubits)]
        offset = 1 + layer % (qubits - 1)
        lines += [f"cx q[{i}],q[{(i + offset) % qubits}];" for i in range(0, qubits - 1, 2)]
    lines.append("measure q -> c;")
    return "\n".join(lines)


def _wait_for_state(client: QplaneClient, job_id: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.job(job_id)["state"] != state:
        assert time.monotonic() < deadline, f"job never reached {state}"
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigkilled_worker_loses_no_job_and_runs_it_once(start_platform: Starter) -> None:
    embedded = start_platform(workers=0, lease_ttl_s=2.0, max_attempts=3)
    with operator_client(embedded) as operator:
        tenant, project = tenant_client(operator, embedded.url, "acme")
    job_id = tenant.submit(project, slow_circuit(), "aer_statevector", 2000, seed=11)["id"]

    doomed = embedded.start_worker("doomed")
    _wait_for_state(tenant, job_id, "running", timeout=60)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    embedded.start_worker("rescuer")
    final = tenant.wait(job_id, timeout=240)
    assert final["state"] == "verified", final
    assert final["attempts"] == 1
    states = [step["state"] for step in final["history"]]
    assert states == [
        "submitted",
        "validated",
        "queued",
        "scheduled",
        "running",
        "queued",
        "scheduled",
        "running",
        "succeeded",
        "verified",
    ]
    result = tenant.result(job_id)
    assert sum(result["counts"].values()) == 2000
    verified = tenant.audit_entries(target=job_id, action="job.verified")["items"]
    assert len(verified) == 1
