"""A job's circuit, result and execution log are three resources, each authorised on its own.

Reading a result never implies reading the circuit (the tenant's IP) or
the log; a tenant policy can open one and keep the others closed.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.broker.validation import parse_circuit
from qplane.domain.jobs import MAX_EXECUTION_LOG_BYTES, SourceFormat
from qplane.identity.workload import sign_result
from tests.api.conftest import InProcessWorker, TenantCtx
from tests.api.policy_support import consultant
from tests.api.test_encryption_at_rest import copy_artifact
from tests.api.test_jobs_api import submit

RUN_LOG = (
    "2026-11-25T10:00:00.000Z leased backend=aer_statevector\n2026-11-25T10:00:01.000Z completed\n"
)


def _lease(client: TestClient, worker: InProcessWorker) -> dict[str, Any]:
    lease: dict[str, Any] = client.post(
        "/internal/v1/leases", json={}, headers=worker.headers
    ).json()
    started = client.post(f"/internal/v1/leases/{lease['lease_id']}/start", headers=worker.headers)
    assert started.status_code == 204
    return lease


def _report(
    client: TestClient, platform: Platform, worker: InProcessWorker, lease: dict[str, Any], log: str
) -> Any:
    circuit = parse_circuit(lease["source"], SourceFormat(lease["format"]))
    result = platform.catalogue.get(lease["backend"]).run(circuit, lease["shots"], lease["seed"])
    payload = result.to_json()
    signature = sign_result(worker.key, lease["job_id"], lease["lease_id"], payload.encode())
    return client.post(
        f"/internal/v1/leases/{lease['lease_id']}/result",
        json={"result": payload, "signature": signature, "log": log},
        headers=worker.headers,
    )


def _run(
    client: TestClient, platform: Platform, worker: InProcessWorker, log: str = RUN_LOG
) -> str:
    lease = _lease(client, worker)
    assert _report(client, platform, worker, lease, log).status_code == 204
    return str(lease["job_id"])


def test_the_workers_log_is_kept_and_served_with_the_job(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    submit(client, acme)
    job_id = _run(client, platform, worker)

    response = client.get(f"/v1/jobs/{job_id}/log", headers=acme.headers)

    assert response.status_code == 200
    assert response.json() == {"job_id": job_id, "log": RUN_LOG}


def test_a_failed_run_keeps_its_log(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    lease = _lease(client, worker)
    failed = client.post(
        f"/internal/v1/leases/{lease['lease_id']}/failure",
        json={"reason": "out of memory", "log": "… failed reason=memory\n"},
        headers=worker.headers,
    )
    assert failed.status_code == 204

    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "failed"
    log = client.get(f"/v1/jobs/{job_id}/log", headers=acme.headers)
    assert log.json()["log"] == "… failed reason=memory\n"


def test_a_job_that_has_not_run_has_no_log_yet(client: TestClient, acme: TenantCtx) -> None:
    job_id = submit(client, acme).json()["id"]

    response = client.get(f"/v1/jobs/{job_id}/log", headers=acme.headers)

    assert response.status_code == 409
    assert response.json()["state"] == "queued"


def test_an_oversized_log_is_refused_and_the_run_can_still_be_reported(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    lease = _lease(client, worker)
    # Fewer characters than the limit, more bytes: the byte limit is the one that counts.
    too_big = "é" * (MAX_EXECUTION_LOG_BYTES // 2 + 1)

    refused = _report(client, platform, worker, lease, too_big)

    assert refused.status_code == 422
    assert refused.json()["field"] == "log"
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "running"
    assert _report(client, platform, worker, lease, RUN_LOG).status_code == 204
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "verified"


def test_a_consultant_reads_results_but_neither_circuits_nor_logs(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    worker: InProcessWorker,
) -> None:
    _, carla = consultant(client, platform, acme, operator_headers)
    submit(client, acme)
    job_id = _run(client, platform, worker)

    result = client.get(f"/v1/jobs/{job_id}/result", headers=carla.headers)
    circuit = client.get(f"/v1/jobs/{job_id}/circuit", headers=carla.headers)
    log = client.get(f"/v1/jobs/{job_id}/log", headers=carla.headers)

    assert result.status_code == 200
    assert (circuit.status_code, log.status_code) == (403, 403)
    assert circuit.json()["detail"].endswith(":consultants-no-circuit-source)")
    assert log.json()["detail"].endswith(":consultants-no-circuit-source)")
    # The tenant admin, under the same policy set, still reads all three.
    for kind in ("result", "circuit", "log"):
        assert client.get(f"/v1/jobs/{job_id}/{kind}", headers=acme.headers).status_code == 200


def test_the_log_is_sealed_and_bound_to_its_kind(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    marker = "QPLANE-LOG-MARKER-5d21"
    submit(client, acme)
    job_id = _run(client, platform, worker, log=f"completed note={marker}\n")

    assert platform.database.blobs is not None  # the log lives in its region's blob store
    local = platform.database.blobs.for_region("local")  # the simulators' region
    (stored,) = [k for k in local.stored_keys() if k.job_id == job_id and k.kind == "log"]
    assert marker.encode() not in local.read(stored)
    copy_artifact(platform, "result", job_id, job_id, target_kind="log")
    swapped = client.get(f"/v1/jobs/{job_id}/log", headers=acme.headers)
    assert swapped.json()["type"].endswith("/integrity-error")
