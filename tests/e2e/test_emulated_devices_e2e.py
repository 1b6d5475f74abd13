"""Several worker processes run two tenants' jobs on emulated QPUs and a simulator:
every job runs once, under the device's calibration, one job at a time per device."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from tests.e2e.conftest import Starter, operator_client, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GHZ = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
h q[0];
cx q[0], q[1];
cx q[1], q[2];
measure q -> c;
"""
DEVICES = ("emu_heavyhex_27", "emu_ion_20")


# PostgreSQL, as in production; tests/e2e/test_many_workers_e2e.py covers both databases.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_workers_run_each_tenants_jobs_once_on_calibrated_exclusive_devices(
    start_platform: Starter,
) -> None:
    embedded = start_platform(workers=3)
    with operator_client(embedded) as operator:
        tenants = [tenant_client(operator, embedded.url, name) for name in ("acme", "globex")]
    submitted = [
        (client, backend, client.submit(project, GHZ, backend, 300, seed=11)["id"])
        for client, project in tenants
        for backend in (*DEVICES, *DEVICES, "aer_statevector")
    ]
    runs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for client, backend, job_id in submitted:
        final = client.wait(job_id, timeout=240)
        assert final["state"] == "verified", final
        assert [s["state"] for s in final["history"]].count("running") == 1, "ran exactly once"
        if backend in DEVICES:
            assert str(final["calibration_id"]).startswith("cal_")
            assert final["device_seconds"] > 1.0
            counts = client.result(job_id)["counts"]
            assert set(counts) - {"000", "111"}, "the device's noise shows in its results"
        else:
            assert final["calibration_id"] is None
        runs[backend].append(_run_span(client, job_id))
    for backend in DEVICES:
        spans = sorted(runs[backend])
        for (_, ended), (started, _) in itertools.pairwise(spans):
            assert ended <= started, f"two jobs overlapped on the exclusive device {backend}"


def _run_span(client: Any, job_id: str) -> tuple[str, str]:
    """When the job started and finished running, from the tenant's audit log (exact times)."""
    started = client.audit_entries(target=job_id, action="job.running")["items"]
    ended = client.audit_entries(target=job_id, action="job.succeeded")["items"]
    assert len(started) == 1
    assert len(ended) == 1
    return str(started[0]["at"]), str(ended[0]["at"])
