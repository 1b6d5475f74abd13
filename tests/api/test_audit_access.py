"""Who reads which audit log, and every read is itself in the log.

Tenant admins and auditors search their own tenant's log (by user, workload,
job, backend, decision, action and time, page by page); members and viewers
do not read it. Operators read the platform's log, and a tenant's only under
a break-glass elevation: granted for that one tenant, with a reason, after a
recent second factor, for a bounded time, usable by its own operator only.
Each read under it lands in the tenant's log and in the platform's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from qplane.audit.entry import to_record
from qplane.audit.log import record
from qplane.bootstrap import Platform
from qplane.domain import ids
from qplane.domain.audit import PLATFORM_LOG, AuditEntry, AuditEvent, Outcome
from qplane.store.models_audit import ElevationRow
from tests.api.conftest import (
    OPERATOR_PASSWORD,
    InProcessWorker,
    TenantCtx,
    login,
)
from tests.api.policy_support import add_user, principal_id
from tests.api.test_jobs_api import run_leased_job, submit

REASON: Final = "incident INC-42: tenant reports a job it did not submit"
Headers = dict[str, str]


def _bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def _items(response: Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _tenant_log(tenant_id: str) -> str:
    return f"/v1/tenants/{tenant_id}/audit/entries"


def _grant(
    client: TestClient, headers: Headers, tenant_id: str, reason: str = REASON, **extra: Any
) -> Response:
    body = {"tenant_id": tenant_id, "reason": reason, **extra}
    return client.post("/v1/platform/elevations", json=body, headers=headers)


def _elevation(client: TestClient, headers: Headers, tenant_id: str) -> str:
    granted = _grant(client, headers, tenant_id)
    assert granted.status_code == 201, granted.text
    return str(granted.json()["id"])


def _shape(response: Response) -> tuple[object, ...]:
    body = response.json()
    return response.status_code, body.get("type"), body.get("title"), body.get("detail")


def _entries(platform: Platform, log: str) -> list[AuditEntry]:
    return list(platform.audit.entries(log))


def _auditor(client: TestClient, operator_headers: Headers, tenant: TenantCtx) -> TenantCtx:
    return add_user(client, operator_headers, tenant, "auditor@acme.test", ["auditor"])


# --- tenant roles ---------------------------------------------------------------------


def test_an_auditor_searches_proves_and_verifies_its_tenants_log(
    client: TestClient, acme: TenantCtx, operator_headers: Headers
) -> None:
    auditor = _auditor(client, operator_headers, acme)
    h = auditor.headers

    assert _items(client.get("/v1/audit/entries", headers=h))
    assert _items(client.get(_tenant_log(acme.tenant_id), headers=h))
    assert client.get("/v1/audit/verify", headers=h).json()["ok"] is True
    checkpoint = client.get("/v1/audit/checkpoint", params={"fresh": True}, headers=h)
    assert checkpoint.status_code == 200, checkpoint.text
    proof = client.get("/v1/audit/proofs/inclusion", params={"index": 0}, headers=h)
    assert proof.status_code == 200, proof.text


def test_an_auditor_reads_no_jobs_and_no_results(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    operator_headers: Headers,
    worker: InProcessWorker,
) -> None:
    submit(client, acme)
    job = run_leased_job(client, platform, worker)
    created = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={
            "email": "auditor@acme.test",
            "password": "auditor-password-1",
            "roles": ["auditor"],
            "projects": [acme.project_id],  # even inside the project: the role decides
        },
        headers=acme.headers,
    )
    assert created.status_code == 201, created.text
    auditor = _bearer(login(client, "auditor@acme.test", "auditor-password-1"))

    assert client.get(f"/v1/jobs/{job}/result", headers=acme.headers).status_code == 200
    for url in (f"/v1/jobs/{job}", f"/v1/jobs/{job}/result", f"/v1/jobs/{job}/circuit"):
        assert client.get(url, headers=auditor).status_code == 403, url
    listing = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=auditor)
    assert listing.status_code == 403
    assert client.get(f"/v1/tenants/{acme.tenant_id}/users", headers=auditor).status_code == 403


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_read_the_audit_log(
    client: TestClient, acme: TenantCtx, operator_headers: Headers, role: str
) -> None:
    reader = add_user(client, operator_headers, acme, f"{role}@acme.test", [role])

    assert client.get("/v1/audit/entries", headers=reader.headers).status_code == 403
    assert client.get(_tenant_log(acme.tenant_id), headers=reader.headers).status_code == 403


def test_another_tenants_log_answers_like_a_tenant_that_does_not_exist(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    real = client.get(_tenant_log(acme.tenant_id), headers=globex.headers)
    made_up = client.get(_tenant_log(ids.new_id(ids.TENANT)), headers=globex.headers)

    assert real.status_code == 404
    assert _shape(real) == _shape(made_up)
    assert acme.tenant_id not in real.json()["detail"]


# --- operators: the platform's log ----------------------------------------------------------


def test_an_operator_reads_and_verifies_the_platform_log(
    client: TestClient, acme: TenantCtx, operator_headers: Headers
) -> None:
    platform_only = _items(client.get("/v1/platform/audit/entries", headers=operator_headers))
    assert platform_only
    assert {entry["log"] for entry in platform_only} == {PLATFORM_LOG}
    assert all(entry["tenant_id"] is None for entry in platform_only)

    report = client.get("/v1/platform/audit/verify", headers=operator_headers).json()
    assert (report["log"], report["ok"]) == (PLATFORM_LOG, True)
    checkpoint = client.get("/v1/platform/audit/checkpoint", headers=operator_headers).json()
    assert checkpoint["log"] == PLATFORM_LOG
    assert checkpoint["note"].startswith("qplane.local/audit/platform\n")


def test_tenant_principals_never_read_the_platform_log(
    client: TestClient, acme: TenantCtx, operator_headers: Headers
) -> None:
    auditor = _auditor(client, operator_headers, acme)
    for headers in (acme.headers, auditor.headers):
        for path in ("entries", "verify", "checkpoint"):
            response = client.get(f"/v1/platform/audit/{path}", headers=headers)
            assert response.status_code == 403, (path, response.text)


# --- operators: a tenant's log, under break-glass only ----------------------------------------


def test_an_operator_without_an_elevation_is_refused_like_for_a_missing_tenant(
    client: TestClient, platform: Platform, acme: TenantCtx, operator_headers: Headers
) -> None:
    real = client.get(_tenant_log(acme.tenant_id), headers=operator_headers)
    made_up = client.get(_tenant_log(ids.new_id(ids.TENANT)), headers=operator_headers)
    guessed = client.get(
        _tenant_log(acme.tenant_id),
        params={"elevation": ids.new_id("elv")},
        headers=operator_headers,
    )

    assert real.status_code == 404
    assert _shape(real) == _shape(made_up) == _shape(guessed)
    # The attempt itself is on record, in the platform's log: the decision refused it.
    refusals = [
        e
        for e in _entries(platform, PLATFORM_LOG)
        if e.action == "authz.deny" and e.target == acme.tenant_id
    ]
    assert len(refusals) == 2


def test_an_elevation_opens_its_one_tenant_to_its_one_operator(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    operator_headers: Headers,
) -> None:
    granted = _grant(client, operator_headers, acme.tenant_id)
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert ids.is_well_formed(grant["id"], "elv")
    assert grant["tenant_id"] == acme.tenant_id
    assert grant["reason"] == REASON
    life = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["created_at"])
    assert life == timedelta(hours=1)
    elevated = {"elevation": grant["id"]}

    assert _items(
        client.get(_tenant_log(acme.tenant_id), params=elevated, headers=operator_headers)
    )
    other = client.get(_tenant_log(globex.tenant_id), params=elevated, headers=operator_headers)
    missing = client.get(_tenant_log(ids.new_id(ids.TENANT)), headers=operator_headers)
    assert _shape(other) == _shape(missing)

    platform.tenancy.ensure_operator("ops2@qplane.test", OPERATOR_PASSWORD)
    second = _bearer(login(client, "ops2@qplane.test", OPERATOR_PASSWORD))
    borrowed = client.get(_tenant_log(acme.tenant_id), params=elevated, headers=second)
    assert _shape(borrowed) == _shape(missing)


def test_an_expired_elevation_opens_nothing(
    client: TestClient, platform: Platform, acme: TenantCtx, operator_headers: Headers
) -> None:
    elevation = _elevation(client, operator_headers, acme.tenant_id)
    url, params = _tenant_log(acme.tenant_id), {"elevation": elevation}
    assert client.get(url, params=params, headers=operator_headers).status_code == 200

    with platform.database.engine.begin() as conn:
        conn.execute(
            update(ElevationRow)
            .where(ElevationRow.id == elevation)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    expired = client.get(url, params=params, headers=operator_headers)
    assert expired.status_code == 404
    assert _shape(expired) == _shape(client.get(url, headers=operator_headers))


def test_a_grant_needs_a_recent_second_factor(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    platform.tenancy.ensure_operator("ops2@qplane.test", OPERATOR_PASSWORD)
    password_only = _bearer(login(client, "ops2@qplane.test", OPERATOR_PASSWORD))

    refused = _grant(client, password_only, acme.tenant_id)

    assert refused.status_code == 401
    assert "insufficient_user_authentication" in refused.headers["WWW-Authenticate"]
    assert not _entries(platform, acme.tenant_id)[-1].action.startswith("break_glass")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"reason": ""}, 422),
        ({"reason": "   "}, 422),
        ({"reason": "x" * 501}, 422),
        ({"ttl_s": 5 * 3600}, 422),  # beyond the platform's maximum (4 h by default)
        ({"ttl_s": 0}, 422),
        ({"tenant_id": "ten_" + "0" * 32}, 404),
    ],
    ids=["empty-reason", "blank-reason", "long-reason", "too-long", "no-time", "no-tenant"],
)
def test_a_grant_needs_a_reason_a_bounded_life_and_a_tenant(
    client: TestClient,
    acme: TenantCtx,
    operator_headers: Headers,
    change: dict[str, Any],
    status: int,
) -> None:
    body = {"tenant_id": acme.tenant_id, "reason": REASON} | change
    response = client.post("/v1/platform/elevations", json=body, headers=operator_headers)
    assert response.status_code == status, response.text


def test_a_grant_may_ask_for_less_or_more_time_within_the_maximum(
    client: TestClient, acme: TenantCtx, operator_headers: Headers
) -> None:
    for ttl in (60, 4 * 3600):
        grant = _grant(client, operator_headers, acme.tenant_id, ttl_s=ttl).json()
        life = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(
            grant["created_at"]
        )
        assert life == timedelta(seconds=ttl)


def test_only_operators_grant_break_glass(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, operator_headers: Headers
) -> None:
    from tests.api.conftest import with_mfa

    admin = with_mfa(client, acme)
    assert _grant(client, admin.headers, acme.tenant_id).status_code == 403
    assert _grant(client, admin.headers, globex.tenant_id).status_code == 404
    elevation = _elevation(client, operator_headers, acme.tenant_id)
    # A tenant principal never reads under an elevation, not even the operator's for its tenant.
    used = client.get(
        _tenant_log(acme.tenant_id), params={"elevation": elevation}, headers=admin.headers
    )
    assert used.status_code == 422


# --- every read is recorded ----------------------------------------------------------------


def _reads(
    platform: Platform, log: str, actor: str, action: str = "audit.search"
) -> list[AuditEntry]:
    return [e for e in _entries(platform, log) if e.action == action and e.actor_id == actor]


def test_every_read_is_recorded_in_the_log_it_read(
    client: TestClient, platform: Platform, acme: TenantCtx, operator_headers: Headers
) -> None:
    auditor = _auditor(client, operator_headers, acme)
    admin_id, auditor_id = principal_id(client, acme), principal_id(client, auditor)

    _items(client.get("/v1/audit/entries", headers=acme.headers))
    _items(client.get(_tenant_log(acme.tenant_id), headers=auditor.headers))
    client.get("/v1/audit/verify", headers=auditor.headers)
    _items(client.get("/v1/platform/audit/entries", headers=operator_headers))
    operator_id = client.get("/v1/me", headers=operator_headers).json()["id"]

    assert len(_reads(platform, acme.tenant_id, admin_id)) == 1
    [auditor_read] = _reads(platform, acme.tenant_id, auditor_id)
    assert auditor_read.policy_ids == ("baseline.role.auditor",)
    assert auditor_read.elevation_id is None
    assert len(_reads(platform, acme.tenant_id, auditor_id, "audit.verify")) == 1
    assert len(_reads(platform, PLATFORM_LOG, operator_id)) == 1
    assert _reads(platform, acme.tenant_id, operator_id) == []  # not elevated: no tenant read


def test_the_tenant_sees_that_an_operator_looked_under_break_glass_and_why(
    client: TestClient, platform: Platform, acme: TenantCtx, operator_headers: Headers
) -> None:
    operator_id = client.get("/v1/me", headers=operator_headers).json()["id"]
    elevation = _elevation(client, operator_headers, acme.tenant_id)

    _items(
        client.get(
            _tenant_log(acme.tenant_id), params={"elevation": elevation}, headers=operator_headers
        )
    )

    seen = _items(
        client.get("/v1/audit/entries", params={"actor_id": operator_id}, headers=acme.headers)
    )
    elevated = [e for e in seen if e["action"] in ("audit.search", "break_glass.granted")]
    assert [e["action"] for e in elevated] == ["audit.search", "break_glass.granted"]
    for entry in elevated:
        assert entry["elevation_id"] == elevation
        assert REASON in entry["detail"]
        assert entry["actor_kind"] == "operator"
        assert entry["auth_method"] == "pwd+otp"  # the second factor the grant required
        assert "baseline.role.operator" in entry["policy_ids"]
    for action in ("break_glass.granted", "audit.search"):
        on_platform = _reads(platform, PLATFORM_LOG, operator_id, action)
        assert [(e.elevation_id, e.target) for e in on_platform] == [(elevation, acme.tenant_id)]


# --- search ----------------------------------------------------------------------------------

_ALICE: Final = ids.new_id(ids.PRINCIPAL)
_BOB: Final = ids.new_id(ids.PRINCIPAL)
_CI: Final = ids.new_id(ids.PRINCIPAL)
_JOB_1: Final = ids.new_id(ids.JOB)
_JOB_2: Final = ids.new_id(ids.JOB)


def _seed(platform: Platform, tenant_id: str) -> None:
    """Entries of known users, workload, jobs, backends and decisions in the tenant's log."""
    events = [
        (_ALICE, "user", "job.submitted", _JOB_1, "aer_statevector", None),
        (_CI, "service", "job.submitted", _JOB_2, "aer_mps", None),
        (_ALICE, "user", "authz.allow", _JOB_1, "aer_statevector", "allow"),
        (_BOB, "user", "authz.deny", _JOB_2, "aer_mps", "deny"),
        (_CI, "user", "authz.deny", _JOB_1, "aer_statevector", "deny"),  # same id, not a workload
        (_BOB, "user", "job.cancelled", _JOB_2, "aer_statevector", None),
    ]
    with platform.database.unit_of_work() as uow:
        for actor, kind, action, job, backend, decision in events:
            record(
                uow,
                AuditEvent(
                    action=action,
                    outcome=Outcome.DENIED if decision == "deny" else Outcome.SUCCESS,
                    tenant_id=tenant_id,
                    actor_id=actor,
                    target=job,
                    actor_kind=kind,
                    decision=decision,
                    job_id=job,
                    backend=backend,
                ),
            )
        uow.commit()


Match = Callable[[AuditEntry], bool]


def _filters(platform: Platform, tenant_id: str) -> dict[str, tuple[dict[str, str], Match]]:
    """Each filter the API takes, and which entries it must return."""
    seeded = _entries(platform, tenant_id)[-6:]
    since, until = seeded[1], seeded[4]
    return {
        "user": ({"actor_id": _ALICE}, lambda e: e.actor_id == _ALICE),
        "workload": (
            {"workload_id": _CI},
            lambda e: e.actor_id == _CI and e.actor_kind == "service",
        ),
        "job": ({"job_id": _JOB_1}, lambda e: e.job_id == _JOB_1),
        "backend": ({"backend": "aer_mps"}, lambda e: e.backend == "aer_mps"),
        "decision": ({"decision": "deny"}, lambda e: e.decision == "deny"),
        "action": ({"action": "job.submitted"}, lambda e: e.action == "job.submitted"),
        "time range": (
            {"since": to_record(since)["at"], "until": to_record(until)["at"]},
            lambda e: since.at <= e.at < until.at,
        ),
        "user and job": (
            {"actor_id": _BOB, "job_id": _JOB_2},
            lambda e: e.actor_id == _BOB and e.job_id == _JOB_2,
        ),
    }


def test_each_search_filter_returns_exactly_the_matching_entries(
    client: TestClient, platform: Platform, acme: TenantCtx, operator_headers: Headers
) -> None:
    _seed(platform, acme.tenant_id)
    elevation = _elevation(client, operator_headers, acme.tenant_id)
    readers = {
        "tenant admin": (acme.headers, {}),
        "elevated operator": (operator_headers, {"elevation": elevation}),
    }
    wrong: list[str] = []
    for name, (params, match) in _filters(platform, acme.tenant_id).items():
        for reader, (headers, extra) in readers.items():
            expected = [e.index for e in reversed(_entries(platform, acme.tenant_id)) if match(e)]
            found = _items(
                client.get(
                    _tenant_log(acme.tenant_id),
                    params={**params, **extra, "limit": 200},
                    headers=headers,
                )
            )
            if [e["index"] for e in found] != expected or not expected:
                wrong.append(f"{name} as {reader}: {[e['index'] for e in found]} != {expected}")
    assert wrong == []


def test_pages_cover_every_entry_exactly_once(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    _seed(platform, acme.tenant_id)
    present = [e.index for e in _entries(platform, acme.tenant_id)]
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get(_tenant_log(acme.tenant_id), params=params, headers=acme.headers)
        assert page.status_code == 200, page.text
        seen += [e["index"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(present) > 9
    assert seen == sorted(present, reverse=True)
