"""Circuits and results are stored sealed under the tenant's key, bound to their place."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from qplane.bootstrap import Platform
from qplane.store.blobs import BlobKey
from tests.api.conftest import BELL, InProcessWorker, TenantCtx
from tests.api.test_jobs_api import run_leased_job, submit

MARKER = "QPLANE-PLAINTEXT-MARKER-7f3a9c"


def copy_artifact(
    platform: Platform, kind: str, source_job: str, target_job: str, target_kind: str | None = None
) -> None:
    """Copy a sealed artifact, key metadata and payload blob alike, onto another job: an
    attacker with write access to the database and the blob stores."""
    kind_to = target_kind or kind
    with platform.database.engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT kek_version, wrapped_key, nonce, ciphertext, region, blob_digest, "
                "tenant_id FROM artifacts WHERE job_id = :j AND kind = :k"
            ),
            {"j": source_job, "k": kind},
        ).one()
        target_tenant = conn.execute(
            text("SELECT tenant_id FROM jobs WHERE id = :j"), {"j": target_job}
        ).scalar_one()
        if row[5] is not None:  # the payload lives in a regional blob store: copy it over too
            blobs = platform.database.blobs
            assert blobs is not None
            store = blobs.for_region(row[4])
            payload = store.read(BlobKey(row[6], source_job, kind, row[5]))
            store.write(target_tenant, target_job, kind_to, payload)
        conn.execute(
            text(
                "UPDATE artifacts SET kek_version = :v, wrapped_key = :w, nonce = :n, "
                "ciphertext = :c, region = :r, blob_digest = :d WHERE job_id = :j AND kind = :k"
            ),
            {
                "v": row[0],
                "w": row[1],
                "n": row[2],
                "c": row[3],
                "r": row[4],
                "d": row[5],
                "j": target_job,
                "k": kind_to,
            },
        )


def test_a_result_copied_onto_another_tenants_job_fails_to_decrypt(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    a_job = submit(client, acme, seed=1).json()["id"]
    run_leased_job(client, platform, worker)
    b_job = submit(client, globex, seed=2).json()["id"]
    run_leased_job(client, platform, worker)
    copy_artifact(platform, "result", a_job, b_job)
    response = client.get(f"/v1/jobs/{b_job}/result", headers=globex.headers)
    assert response.status_code == 500
    assert response.json()["type"].endswith("/integrity-error")
    assert "counts" not in response.text


def test_a_result_copied_onto_another_job_of_the_same_tenant_fails(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    first = submit(client, acme, seed=1).json()["id"]
    run_leased_job(client, platform, worker)
    second = submit(client, acme, seed=2).json()["id"]
    run_leased_job(client, platform, worker)
    copy_artifact(platform, "result", first, second)
    response = client.get(f"/v1/jobs/{second}/result", headers=acme.headers)
    assert response.json()["type"].endswith("/integrity-error")


def test_a_circuit_presented_as_a_result_fails(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    copy_artifact(platform, "circuit", job, job, target_kind="result")
    response = client.get(f"/v1/jobs/{job}/result", headers=acme.headers)
    assert response.json()["type"].endswith("/integrity-error")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_circuit_text_never_reaches_the_database_file(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    worker: InProcessWorker,
    tmp_path: Path,
) -> None:
    marked = BELL + f"// {MARKER}\n"
    job = submit(client, acme, source=marked).json()["id"]
    run_leased_job(client, platform, worker)
    assert client.get(f"/v1/jobs/{job}", headers=acme.headers).json()["state"] == "verified"
    platform.database.dispose()  # flush the WAL into the files we grep
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert MARKER.encode() not in stored
    assert b"cx q[0],q[1]" not in stored
