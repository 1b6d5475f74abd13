"""Submitting, reading, listing, cancelling jobs and fetching results over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.broker.validation import parse_circuit
from qplane.domain.jobs import SourceFormat
from qplane.identity.workload import sign_result
from tests.api.conftest import BELL, InProcessWorker, TenantCtx


def submit(client: TestClient, ctx: TenantCtx, **overrides: Any) -> Any:
    body = {
        "project_id": ctx.project_id,
        "source": BELL,
        "backend": "aer_statevector",
        "shots": 1000,
        "seed": 7,
        **overrides,
    }
    return client.post("/v1/jobs", json=body, headers=ctx.headers)


def run_leased_job(client: TestClient, platform: Platform, worker: InProcessWorker) -> str:
    """Lease one job and run it for real on Aer, as the worker agent does."""
    lease = client.post("/internal/v1/leases", json={}, headers=worker.headers).json()
    assert (
        client.post(
            f"/internal/v1/leases/{lease['lease_id']}/start", headers=worker.headers
        ).status_code
        == 204
    )
    circuit = parse_circuit(lease["source"], SourceFormat(lease["format"]))
    result = platform.catalogue.get(lease["backend"]).run(circuit, lease["shots"], lease["seed"])
    payload = result.to_json()
    signature = sign_result(worker.key, lease["job_id"], lease["lease_id"], payload.encode())
    response = client.post(
        f"/internal/v1/leases/{lease['lease_id']}/result",
        json={"result": payload, "signature": signature},
        headers=worker.headers,
    )
    assert response.status_code == 204, response.text
    return str(lease["job_id"])


def test_a_valid_job_is_queued_with_its_history(client: TestClient, acme: TenantCtx) -> None:
    response = submit(client, acme, tags=["exp:bell"])
    assert response.status_code == 201
    job = response.json()
    assert job["state"] == "queued"
    assert [step["state"] for step in job["history"]] == ["submitted", "validated", "queued"]
    assert (job["qubits"], job["tags"], job["seed"]) == (2, ["exp:bell"], 7)


def test_a_job_runs_to_a_verified_result(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    assert run_leased_job(client, platform, worker) == job_id
    job = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    assert job["state"] == "verified"
    assert [s["state"] for s in job["history"]][-4:] == [
        "scheduled",
        "running",
        "succeeded",
        "verified",
    ]
    result = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).json()
    assert sum(result["counts"].values()) == 1000
    assert set(result["counts"]) <= {"00", "11"}
    assert (result["seed"], result["backend"]) == (7, "aer_statevector")


def test_the_same_seed_reproduces_the_same_counts(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    first = submit(client, acme, seed=1234).json()["id"]
    run_leased_job(client, platform, worker)
    second = submit(client, acme, seed=1234).json()["id"]
    run_leased_job(client, platform, worker)
    counts = [
        client.get(f"/v1/jobs/{j}/result", headers=acme.headers).json()["counts"]
        for j in (first, second)
    ]
    assert counts[0] == counts[1]


QASM3_BELL = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def test_openqasm3_jobs_are_accepted(client: TestClient, acme: TenantCtx) -> None:
    response = submit(client, acme, source=QASM3_BELL, format="qasm3")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("overrides", "limit"),
    [
        ({"backend": "no_such_backend"}, None),
        ({"shots": 0}, "min_shots"),
        ({"shots": 10_000_000}, "max_shots"),
        ({"source": "OPENQASM 2.0; this is not qasm"}, None),
        (
            {
                "source": BELL.replace("qreg q[2]", "qreg q[60]").replace(
                    "creg c[2]", "creg c[60]"
                ),
                "backend": "aer_density_matrix",
            },
            "max_qubits",
        ),
    ],
)
def test_invalid_jobs_are_refused_with_the_limit_named_and_recorded_as_rejected(
    client: TestClient, acme: TenantCtx, overrides: dict[str, Any], limit: str | None
) -> None:
    response = submit(client, acme, **overrides)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    if limit is not None:
        assert problem["limit"] == limit
    rejected = client.get(f"/v1/jobs/{problem['job_id']}", headers=acme.headers).json()
    assert rejected["state"] == "rejected"
    assert rejected["reason"] == problem["detail"]


def test_an_oversized_circuit_is_refused_as_too_large(client: TestClient, acme: TenantCtx) -> None:
    padding = "// " + "x" * (300 * 1024) + "\n"
    response = submit(client, acme, source=BELL + padding)
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")


def test_listing_is_paginated_and_filters_by_state(client: TestClient, acme: TenantCtx) -> None:
    for _ in range(5):
        submit(client, acme)
    submit(client, acme, shots=0)
    page = client.get(f"/v1/projects/{acme.project_id}/jobs?limit=2", headers=acme.headers).json()
    seen = [j["id"] for j in page["items"]]
    while page["next_cursor"]:
        page = client.get(
            f"/v1/projects/{acme.project_id}/jobs",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=acme.headers,
        ).json()
        seen += [j["id"] for j in page["items"]]
    assert len(seen) == len(set(seen)) == 6
    rejected = client.get(
        f"/v1/projects/{acme.project_id}/jobs?state=rejected", headers=acme.headers
    ).json()["items"]
    assert len(rejected) == 1


def test_a_queued_job_cancels_and_a_cancelled_job_cannot_cancel_again(
    client: TestClient, acme: TenantCtx
) -> None:
    job_id = submit(client, acme).json()["id"]
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel", headers=acme.headers)
    assert cancelled.json()["state"] == "cancelled"
    again = client.post(f"/v1/jobs/{job_id}/cancel", headers=acme.headers)
    assert again.status_code == 409


def test_a_result_is_not_available_before_the_job_finishes(
    client: TestClient, acme: TenantCtx
) -> None:
    job_id = submit(client, acme).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers)
    assert response.status_code == 409


def test_backends_are_listed_with_their_limits(client: TestClient, acme: TenantCtx) -> None:
    backends = {b["name"]: b for b in client.get("/v1/backends", headers=acme.headers).json()}
    assert {"aer_statevector", "aer_density_matrix", "aer_mps"} <= set(backends)
    assert backends["aer_statevector"]["max_qubits"] > backends["aer_density_matrix"]["max_qubits"]


def test_a_job_records_the_classification_its_submitter_declares(
    client: TestClient, acme: TenantCtx
) -> None:
    body = {
        "project_id": acme.project_id,
        "source": BELL,
        "backend": "aer_statevector",
        "shots": 10,
        "classification": "confidential",
    }
    created = client.post("/v1/jobs", json=body, headers=acme.headers)
    assert created.status_code == 201, created.text
    fetched = client.get(f"/v1/jobs/{created.json()['id']}", headers=acme.headers).json()
    assert fetched["classification"] == "confidential"
    assert submit(client, acme).json()["classification"] == "internal"  # the default


def test_an_unknown_classification_is_refused(client: TestClient, acme: TenantCtx) -> None:
    body = {
        "project_id": acme.project_id,
        "source": BELL,
        "backend": "aer_statevector",
        "classification": "top-secret",
    }
    response = client.post("/v1/jobs", json=body, headers=acme.headers)
    assert response.status_code == 422
