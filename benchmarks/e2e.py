"""End-to-end latency and throughput of the job path, printed as JSON.

Measures, on the embedded platform (SQLite by default, or QPLANE_DATABASE_URL):
  * p50/p99 submit-to-result latency of a 2-qubit Bell circuit (1,000 shots)
    through HTTP with one worker, one job at a time;
  * the same circuit run directly on Aer in-process (parse + run), and the
    ratio between the two: the platform's overhead;
  * sustained jobs per second with 10 tenants submitting at once.

Usage: python benchmarks/e2e.py [--jobs N] [--tenants N] [--per-tenant N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qplane.backends.catalogue import default_catalogue
from qplane.broker.validation import parse_circuit
from qplane.cli.login_flows import enrol_totp_unattended
from qplane.config import Settings
from qplane.domain.jobs import SourceFormat
from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient

BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""
SHOTS = 1000
OPERATOR = ("bench@qplane.local", "benchmark-password-1")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def direct_aer(runs: int) -> list[float]:
    backend = default_catalogue().get("aer_statevector")
    timings = []
    for seed in range(runs):
        start = time.perf_counter()
        backend.run(parse_circuit(BELL, SourceFormat.QASM2), SHOTS, seed)
        timings.append(time.perf_counter() - start)
    return timings


def tenant(operator: QplaneClient, url: str, name: str) -> tuple[QplaneClient, str]:
    created = operator.create_tenant(name, max_running_jobs=8)
    project = operator.create_project(created["id"], "bench")
    email = f"bench@{name}.test"
    # An operator creates users but grants no project access: the user is made a
    # member of the project by the tenant's own admin, as in a real tenant.
    admin_email = f"admin@{name}.test"
    operator.create_user(created["id"], admin_email, "tenant-password-1", ["tenant_admin"])
    user = operator.create_user(created["id"], email, "tenant-password-1", ["member"])
    admin = QplaneClient(url)
    admin.login(admin_email, "tenant-password-1")
    admin.add_project_member(created["id"], str(project["id"]), str(user["id"]))
    admin.close()
    client = QplaneClient(url)
    client.login(email, "tenant-password-1")
    return client, str(project["id"])


def sequential_latency(client: QplaneClient, project: str, jobs: int) -> list[float]:
    timings = []
    for seed in range(jobs):
        start = time.perf_counter()
        job = client.submit(project, BELL, "aer_statevector", SHOTS, seed=seed)
        final = client.wait(job["id"], timeout=120, poll_s=0.01)
        assert final["state"] == "verified", final
        client.result(job["id"])
        timings.append(time.perf_counter() - start)
    return timings


def throughput(clients: list[tuple[QplaneClient, str]], per_tenant: int) -> float:
    def run(pair: tuple[QplaneClient, str]) -> None:
        client, project = pair
        ids = [
            client.submit(project, BELL, "aer_statevector", SHOTS)["id"] for _ in range(per_tenant)
        ]
        for job_id in ids:
            assert client.wait(job_id, timeout=600, poll_s=0.05)["state"] == "verified"

    start = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(run, clients))
    return len(clients) * per_tenant / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--per-tenant", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    direct = direct_aer(args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), port=0, database_url=os.environ.get("QPLANE_DATABASE_URL")
        )
        with EmbeddedPlatform(settings, workers=args.workers) as embedded:
            embedded.ensure_operator(*OPERATOR)
            with QplaneClient(embedded.url) as operator:
                operator.login(*OPERATOR)
                enrol_totp_unattended(operator)  # operator changes need a recent MFA
                first, project = tenant(operator, embedded.url, "latency")
                sequential_latency(first, project, 5)  # warm-up
                latency = sequential_latency(first, project, args.jobs)
                clients = [tenant(operator, embedded.url, f"load-{i}") for i in range(args.tenants)]
                jobs_per_s = throughput(clients, args.per_tenant)

    p50, direct_p50 = statistics.median(latency), statistics.median(direct)
    print(
        json.dumps(
            {
                "benchmark": "e2e",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": host.python_version(),
                    "system": host.platform(),
                },
                "database": "postgresql" if os.environ.get("QPLANE_DATABASE_URL") else "sqlite",
                "workers": args.workers,
                "circuit": "bell-2q",
                "shots": SHOTS,
                "jobs": args.jobs,
                "platform_latency_s": {"p50": p50, "p99": percentile(latency, 99)},
                "direct_aer_s": {"p50": direct_p50, "p99": percentile(direct, 99)},
                "overhead_ratio_p50": p50 / direct_p50,
                "throughput": {
                    "tenants": args.tenants,
                    "jobs": args.tenants * args.per_tenant,
                    "jobs_per_s": jobs_per_s,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
