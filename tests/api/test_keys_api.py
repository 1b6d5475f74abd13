"""The key hierarchy through the API: list, rotate, rewrap, retire, project rings, crypto-shred.

Each test drives the real server and looks at what the database holds, so
"the payload was not decrypted to rotate" and "nothing left can decrypt
after a shred" are checked on the stored bytes, not taken on trust.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from qplane.bootstrap import Platform
from tests.api.conftest import (
    OPERATOR_PASSWORD,
    InProcessWorker,
    TenantCtx,
    enrol_totp,
    login,
    with_mfa,
)
from tests.api.test_jobs_api import run_leased_job, submit


def _keys(client: TestClient, tenant: TenantCtx, headers: dict[str, str] | None = None) -> Any:
    response = client.get(f"/v1/tenants/{tenant.tenant_id}/keys", headers=headers or tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _post(client: TestClient, tenant: TenantCtx, path: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/v1/tenants/{tenant.tenant_id}/keys/{path}", json=body, headers=tenant.headers
    )


def _stored(platform: Platform, job_id: str, kind: str = "result") -> tuple[Any, ...]:
    with platform.database.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT kek_ring, kek_version, wrapped_key, nonce, ciphertext, blob_digest"
                " FROM artifacts WHERE job_id = :j AND kind = :k"
            ),
            {"j": job_id, "k": kind},
        ).one()
    # The payload as stored: inline, or the digest naming its regional blob.
    payload = bytes(row[4]) if row[4] is not None else row[5].encode()
    return (row[0], row[1], bytes(row[2]), bytes(row[3]), payload)


def _run(client: TestClient, platform: Platform, tenant: TenantCtx, worker: InProcessWorker) -> str:
    job_id = str(submit(client, tenant).json()["id"])
    run_leased_job(client, platform, worker)
    return job_id


def _audit(client: TestClient, tenant: TenantCtx, action: str) -> list[dict[str, Any]]:
    entries = client.get(
        f"/v1/audit/entries?action={action}&limit=50", headers=tenant.headers
    ).json()["items"]
    return list(entries)


def test_a_new_tenant_has_one_ring_and_the_listing_holds_no_key_material(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    rings = _keys(client, acme)

    assert [r["name"] for r in rings] == [f"{acme.tenant_id}/*"]
    ring = rings[0]
    assert (ring["provider"], ring["state"], ring["min_decrypt_version"]) == ("local", "active", 1)
    assert [(v["version"], v["state"]) for v in ring["versions"]] == [(1, "active")]
    assert set(ring) == {
        "name", "tenant_id", "project_id", "environment", "provider", "state",
        "min_decrypt_version", "pending_rewrap", "versions",
    }  # fmt: skip
    # Operators may see the hierarchy (it holds no material) …
    assert _keys(client, acme, operator_headers) == rings


def test_key_changes_need_a_recent_second_factor(client: TestClient, acme: TenantCtx) -> None:
    response = _post(client, acme, "rotate", {})

    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]


def test_operators_cannot_change_a_tenants_keys(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/rotate", json={}, headers=operator_headers
    )

    assert response.status_code == 403
    assert "baseline.operator-scope" in response.json()["detail"]


def test_another_tenant_cannot_see_or_change_the_keys(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    globex_mfa = with_mfa(client, globex)
    for method, path in (("GET", ""), ("POST", "/rotate"), ("POST", "/rewrap")):
        response = client.request(
            method,
            f"/v1/tenants/{acme.tenant_id}/keys{path}",
            json={} if method == "POST" else None,
            headers=globex_mfa.headers,
        )
        assert response.status_code == 404, (path, response.text)


def test_rotation_then_rewrap_moves_data_keys_without_touching_payloads(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    admin = with_mfa(client, acme)
    old_job = _run(client, platform, acme, worker)
    before = _stored(platform, old_job)

    rotated = _post(client, admin, "rotate", {})
    assert rotated.status_code == 200, rotated.text
    assert [v["version"] for v in rotated.json()["versions"]] == [1, 2]
    new_job = _run(client, platform, acme, worker)
    assert _stored(platform, new_job)[1] == 2  # new writes use the new version at once
    assert _stored(platform, old_job)[1] == 1
    # The old job's circuit and result, the admin's sealed TOTP secret, the audit key.
    assert _keys(client, acme)[0]["pending_rewrap"] == 4

    moved = _post(client, admin, "rewrap", {})

    assert moved.json() == {"rewrapped": 4}
    after = _stored(platform, old_job)
    assert (after[0], after[1]) == (before[0], 2)
    assert after[2] != before[2]  # a new wrapping of the same data key …
    assert (after[3], after[4]) == (before[3], before[4])  # … and the very same payload
    assert _keys(client, acme)[0]["pending_rewrap"] == 0
    result = client.get(f"/v1/jobs/{old_job}/result", headers=acme.headers)
    assert result.status_code == 200
    assert [e["target"] for e in _audit(client, acme, "key.rotate")] == [f"{acme.tenant_id}/*"]


def test_the_sweeper_rewraps_in_the_background(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    admin = with_mfa(client, acme)
    job_id = _run(client, platform, acme, worker)
    _post(client, admin, "rotate", {})

    assert platform.sweeper.rewrap_keys() == 4  # circuit, result, TOTP secret, audit key

    assert _stored(platform, job_id)[1] == 2
    assert (
        "4 data keys rewrapped in the background" in _audit(client, acme, "key.rewrap")[0]["detail"]
    )
    assert platform.sweeper.rewrap_keys() == 0


def test_retiring_old_versions_waits_for_the_rewrap_and_then_refuses_replays(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    admin = with_mfa(client, acme)
    job_id = _run(client, platform, acme, worker)
    old = _stored(platform, job_id)
    _post(client, admin, "rotate", {})

    early = _post(client, admin, "retire", {"below_version": 2})
    assert early.status_code == 409
    assert early.json()["pending"] == 4

    _post(client, admin, "rewrap", {})
    retired = _post(client, admin, "retire", {"below_version": 2})

    assert retired.status_code == 200, retired.text
    ring = retired.json()
    assert ring["min_decrypt_version"] == 2
    assert [(v["version"], v["state"]) for v in ring["versions"]] == [(1, "retired"), (2, "active")]
    with platform.database.engine.connect() as conn:
        material = conn.execute(
            text("SELECT material FROM key_versions WHERE ring = :r AND version = 1"),
            {"r": f"{acme.tenant_id}/*"},
        ).scalar_one()
    assert material is None
    # Replaying the old wrapping (from a backup, say) is caught and audited.
    with platform.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE artifacts SET kek_version = 1, wrapped_key = :w"
                " WHERE job_id = :j AND kind = 'result'"
            ),
            {"w": old[2], "j": job_id},
        )
    replayed = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers)
    assert replayed.status_code == 500
    assert replayed.json()["type"].endswith("/integrity-error")
    assert "retired" in replayed.json()["detail"]
    failures = _audit(client, acme, "crypto.integrity_failure")
    assert [(e["target"], e["outcome"]) for e in failures] == [(job_id, "failure")]
    assert failures[0]["detail"].startswith("result: ")


def test_a_project_ring_seals_that_projects_new_data(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    admin = with_mfa(client, acme)
    created = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/projects/{acme.project_id}", headers=admin.headers
    )
    assert created.status_code == 201, created.text

    job_id = _run(client, platform, acme, worker)

    assert _stored(platform, job_id)[0] == f"{acme.tenant_id}/{acme.project_id}"
    assert client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).status_code == 200
    assert sorted(r["name"] for r in _keys(client, acme)) == sorted(
        [f"{acme.tenant_id}/*", f"{acme.tenant_id}/{acme.project_id}"]
    )


def _second_operator(client: TestClient, platform: Platform) -> dict[str, str]:
    platform.tenancy.ensure_operator("ops2@qplane.test", OPERATOR_PASSWORD)
    return enrol_totp(client, login(client, "ops2@qplane.test", OPERATOR_PASSWORD)).headers


def test_a_crypto_shred_takes_two_operators_and_leaves_nothing_that_decrypts(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    worker: InProcessWorker,
) -> None:
    job_id = _run(client, platform, acme, worker)
    requested = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/shred-requests",
        json={"reason": "offboarding, contract ended"},
        headers=operator_headers,
    )
    assert requested.status_code == 201, requested.text
    request_id = requested.json()["id"]

    alone = client.post(f"/v1/key-shred-requests/{request_id}/approve", headers=operator_headers)
    assert alone.status_code == 403
    assert client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).status_code == 200

    approved = client.post(
        f"/v1/key-shred-requests/{request_id}/approve", headers=_second_operator(client, platform)
    )

    assert approved.status_code == 200, approved.text
    evidence = approved.json()
    # The job's circuit and result, and the tenant's audit key.
    assert (evidence["destroyed_versions"], evidence["unrecoverable_values"]) == ([1], 3)
    gone = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers)
    assert gone.status_code == 503
    assert "crypto-shredded" in gone.json()["detail"]
    with platform.database.engine.connect() as conn:
        materials = conn.execute(
            text("SELECT material, state FROM key_versions WHERE ring = :r"),
            {"r": f"{acme.tenant_id}/*"},
        ).all()
    assert materials == [(None, "destroyed")]
    again = client.post(f"/v1/key-shred-requests/{request_id}/approve", headers=operator_headers)
    assert again.status_code == 409
    shreds = _audit(client, acme, "key.shred")
    assert len(shreds) == 1
    assert "3 sealed values now unrecoverable" in shreds[0]["detail"]
    assert "offboarding, contract ended" in shreds[0]["detail"]


def test_shredding_needs_operators_with_a_fresh_second_factor(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    platform.tenancy.ensure_operator("ops3@qplane.test", OPERATOR_PASSWORD)
    password_only = login(client, "ops3@qplane.test", OPERATOR_PASSWORD)
    admin = with_mfa(client, acme)
    by_tenant = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/shred-requests",
        json={"reason": "mine"},
        headers=admin.headers,
    )
    no_mfa = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/shred-requests",
        json={"reason": "offboarding"},
        headers={"Authorization": f"Bearer {password_only}"},
    )

    assert by_tenant.status_code == 403
    assert "baseline.operator-only" in by_tenant.json()["detail"]
    assert no_mfa.status_code == 401
