"""Every state change and denial is audited in the same transaction; the log proves itself."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from qplane.audit.checkpoint import parse_and_verify
from qplane.audit.entry import canonical
from qplane.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from qplane.audit.note import parse_vkey
from qplane.bootstrap import Platform
from qplane.domain.errors import IntegrityError
from tests.api.conftest import InProcessWorker, TenantCtx
from tests.api.test_jobs_api import run_leased_job, submit


def _actions(client: TestClient, ctx: TenantCtx, **params: str) -> list[dict[str, str]]:
    return client.get(
        "/v1/audit/entries", params={"limit": 200, **params}, headers=ctx.headers
    ).json()["items"]


def test_each_lifecycle_step_is_audited_for_the_tenant(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    steps = [e["action"] for e in reversed(_actions(client, acme, target=job_id))]
    assert steps == [
        "job.submitted",
        "job.validated",
        "job.queued",
        "job.scheduled",
        "job.running",
        "job.succeeded",
        "job.verified",
    ]


def test_a_rejection_is_audited_as_denied(client: TestClient, acme: TenantCtx) -> None:
    problem = submit(client, acme, shots=0).json()
    entries = _actions(client, acme, target=problem["job_id"], outcome="denied")
    assert [e["action"] for e in entries] == ["job.rejected"]


def test_a_forbidden_request_is_audited(client: TestClient, acme: TenantCtx) -> None:
    assert (
        client.post("/v1/tenants", json={"name": "rogue"}, headers=acme.headers).status_code == 403
    )
    denied = _actions(client, acme, outcome="denied")
    assert any(e["action"] == "POST /v1/tenants" for e in denied)


def test_the_audit_log_holds_no_circuit_text(client: TestClient, acme: TenantCtx) -> None:
    submit(client, acme)
    assert "cx q[0]" not in str(_actions(client, acme))


def test_members_cannot_read_the_audit_log(client: TestClient, acme: TenantCtx) -> None:
    from tests.api.conftest import login

    client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "developer-pass-1"},
        headers=acme.headers,
    )
    member = {"Authorization": f"Bearer {login(client, 'dev@acme.test', 'developer-pass-1')}"}
    assert client.get("/v1/audit/entries", headers=member).status_code == 403


def test_the_server_verifies_an_intact_log(client: TestClient, acme: TenantCtx) -> None:
    submit(client, acme)
    client.post("/v1/audit/checkpoints", headers=acme.headers)
    report = client.get("/v1/audit/verify", headers=acme.headers).json()
    assert report["ok"] is True
    assert report["entries"] > 3
    assert report["checkpoints"] == 1


def _tamper(platform: Platform, sql: str, **params: object) -> None:
    with platform.database.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_an_edited_row_is_named_by_verification(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    _tamper(
        platform,
        "UPDATE audit_entries SET outcome = 'denied' WHERE log = :c AND idx = 2",
        c=acme.tenant_id,
    )
    report = client.get("/v1/audit/verify", headers=acme.headers).json()
    assert (report["ok"], report["first_bad_index"]) == (False, 2)
    reports = {r.log: r for r in platform.audit.verify_all()}
    assert reports[acme.tenant_id].first_bad_index == 2


def test_a_deleted_row_is_named_by_verification(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    _tamper(platform, "DELETE FROM audit_entries WHERE log = :c AND idx = 2", c=acme.tenant_id)
    report = platform.audit.verify(acme.tenant_id)
    assert report.first_bad_index == 2
    assert "missing" in (report.problem or "")


def test_a_truncated_tail_is_detected(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    last = platform.audit.sign(acme.tenant_id).size - 1
    _tamper(
        platform, "DELETE FROM audit_entries WHERE log = :c AND idx = :i", c=acme.tenant_id, i=last
    )
    report = platform.audit.verify(acme.tenant_id)
    assert not report.ok
    assert report.first_bad_index == last


def test_checkpoints_are_signed_on_demand_and_verify_with_the_published_keys(
    client: TestClient, acme: TenantCtx
) -> None:
    submit(client, acme)
    signed = client.post("/v1/audit/checkpoints", headers=acme.headers)
    assert signed.status_code == 201
    body = signed.json()
    keys = client.get("/v1/audit/keys").json()
    verifiers = [parse_vkey(v) for v in keys["vkeys"]]
    assert len(verifiers) == 2  # Ed25519 and the composite ML-DSA-65 + Ed25519
    origin = keys["log_origin_template"].format(log=acme.tenant_id)
    checkpoint = parse_and_verify(body["note"], verifiers, origin=origin)
    assert checkpoint.size == body["size"] > 0
    assert base64.b64encode(checkpoint.root_hash).decode() == body["root_hash"]
    latest = client.get("/v1/audit/checkpoint", headers=acme.headers).json()
    assert latest["size"] >= body["size"]
    listed = client.get("/v1/audit/checkpoints", headers=acme.headers).json()["items"]
    assert body["size"] in [c["size"] for c in listed]


def test_an_inclusion_proof_ties_an_entry_to_a_signed_checkpoint(
    client: TestClient, acme: TenantCtx
) -> None:
    job_id = submit(client, acme).json()["id"]
    submitted = _actions(client, acme, target=job_id, action="job.submitted")[0]
    proof = client.get(
        "/v1/audit/proofs/inclusion", params={"index": submitted["index"]}, headers=acme.headers
    ).json()
    assert proof["entry"] == submitted
    root = base64.b64decode(proof["checkpoint"]["root_hash"])
    leaf = leaf_hash(canonical(proof["entry"]))
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(
        leaf_hash=leaf,
        leaf_index=proof["leaf_index"],
        tree_size=proof["tree_size"],
        proof=hashes,
        root=root,
    )
    edited = {**proof["entry"], "outcome": "denied"}
    with pytest.raises(IntegrityError):
        verify_inclusion(
            leaf_hash=leaf_hash(canonical(edited)),
            leaf_index=proof["leaf_index"],
            tree_size=proof["tree_size"],
            proof=hashes,
            root=root,
        )


def test_a_pinned_checkpoint_is_proven_a_prefix_of_the_latest(
    client: TestClient, acme: TenantCtx
) -> None:
    pinned = client.post("/v1/audit/checkpoints", headers=acme.headers).json()
    submit(client, acme)
    latest = client.post("/v1/audit/checkpoints", headers=acme.headers).json()
    proof = client.get(
        "/v1/audit/proofs/consistency",
        params={"old_size": pinned["size"]},
        headers=acme.headers,
    ).json()
    assert proof["new"]["size"] >= latest["size"] > pinned["size"]
    verify_consistency(
        old_size=pinned["size"],
        new_size=proof["new"]["size"],
        old_root=base64.b64decode(pinned["root_hash"]),
        new_root=base64.b64decode(proof["new"]["root_hash"]),
        proof=[base64.b64decode(h) for h in proof["hashes"]],
    )


def test_unknown_checkpoints_and_entries_are_not_found(client: TestClient, acme: TenantCtx) -> None:
    client.post("/v1/audit/checkpoints", headers=acme.headers)
    for path, params in (
        ("/v1/audit/proofs/consistency", {"old_size": 10**9}),
        ("/v1/audit/proofs/inclusion", {"index": 10**9}),
        ("/v1/audit/proofs/inclusion", {"index": 0, "tree_size": 10**9}),
    ):
        answer = client.get(path, params=params, headers=acme.headers)
        assert answer.status_code == 404, (path, params)
        assert answer.headers["content-type"] == "application/problem+json"
    bad = client.get("/v1/audit/proofs/inclusion", params={"index": -1}, headers=acme.headers)
    assert bad.status_code == 422


def test_every_read_of_the_audit_log_is_recorded_in_it(client: TestClient, acme: TenantCtx) -> None:
    _actions(client, acme)
    client.get("/v1/audit/verify", headers=acme.headers)
    client.post("/v1/audit/checkpoints", headers=acme.headers)
    client.get("/v1/audit/proofs/inclusion", params={"index": 0}, headers=acme.headers)
    client.get("/v1/audit/checkpoints", headers=acme.headers)
    client.get("/v1/audit/export", headers=acme.headers)
    reads = [e["action"] for e in _actions(client, acme, target=acme.tenant_id)]
    for action in (
        "audit.search",
        "audit.verify",
        "audit.checkpoint",
        "audit.prove",
        "audit.export",
    ):
        assert action in reads


def test_the_sweeper_signs_grown_logs_at_its_interval(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    assert platform.audit.sign_grown() >= 1
    with platform.database.unit_of_work() as uow:
        head = uow.audit.head(acme.tenant_id)
        latest = uow.audit.latest_checkpoint(acme.tenant_id)
    assert head is not None
    assert latest is not None
    assert latest.size == head.size
    assert platform.audit.sign_grown() == 0  # nothing grew since


def test_a_row_planted_beyond_the_head_is_still_reported_to_the_tenant(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    size = platform.audit.sign(acme.tenant_id).size
    _tamper(
        platform,
        "INSERT INTO audit_entries (log, idx, at, clock, action, outcome, tenant_id,"
        " policy_ids, correlations) VALUES (:c, :i, :at, 'x', 'job.forged', 'success', :c,"
        " '[]', '{}')",
        c=acme.tenant_id,
        i=size,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    answer = client.get("/v1/audit/verify", headers=acme.headers)
    assert answer.status_code == 200
    report = answer.json()
    assert (report["ok"], report["first_bad_index"]) == (False, size)
    assert "beyond" in report["problem"]
