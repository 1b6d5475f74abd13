"""Every state change and denial is audited, in the same transaction, and chains verify."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from qplane.bootstrap import Platform
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


def test_the_server_verifies_an_intact_chain(client: TestClient, acme: TenantCtx) -> None:
    submit(client, acme)
    report = client.get("/v1/audit/verify", headers=acme.headers).json()
    assert report["ok"] is True
    assert report["entries"] > 3


def test_an_edited_row_is_named_by_verification(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    with platform.database.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET outcome = 'denied' WHERE chain = :c AND seq = 2"),
            {"c": acme.tenant_id},
        )
    report = client.get("/v1/audit/verify", headers=acme.headers).json()
    assert (report["ok"], report["first_bad_seq"]) == (False, 2)
    reports = {r.chain: r for r in platform.audit.verify_all()}
    assert reports[acme.tenant_id].first_bad_seq == 2


def test_a_deleted_row_is_named_by_verification(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    with platform.database.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_entries WHERE chain = :c AND seq = 2"), {"c": acme.tenant_id}
        )
    assert platform.audit.verify(acme.tenant_id).first_bad_seq == 3


def test_a_truncated_tail_is_detected(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    with platform.database.engine.begin() as conn:
        last = conn.execute(
            text("SELECT max(seq) FROM audit_entries WHERE chain = :c"), {"c": acme.tenant_id}
        ).scalar_one()
        conn.execute(
            text("DELETE FROM audit_entries WHERE chain = :c AND seq = :s"),
            {"c": acme.tenant_id, "s": last},
        )
    report = platform.audit.verify(acme.tenant_id)
    assert not report.ok
    assert report.first_bad_seq == last
