"""Quotas, plans, regions and usage over HTTP: who sets them, who sees them, what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from qplane.domain import ids
from tests.api.conftest import TenantCtx, login, with_mfa
from tests.api.test_jobs_api import submit

NO_LIMITS = {
    "running_jobs": None,
    "queued_jobs": None,
    "shots_per_day": None,
    "qpu_seconds_per_month": None,
    "simulator_seconds_per_month": None,
}


def set_tenant_quota(
    client: TestClient, headers: dict[str, str], tenant_id: str, **body: Any
) -> Response:
    return client.put(f"/v1/tenants/{tenant_id}/quotas", json=body, headers=headers)


def set_project_quota(client: TestClient, tenant: TenantCtx, **body: Any) -> Response:
    url = f"/v1/tenants/{tenant.tenant_id}/projects/{tenant.project_id}/quotas"
    return client.put(url, json=body, headers=tenant.headers)


def usage(client: TestClient, tenant: TenantCtx) -> dict[str, Any]:
    response = client.get(f"/v1/tenants/{tenant.tenant_id}/usage", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _member(client: TestClient, admin: TenantCtx) -> TenantCtx:
    """A member of *admin*'s project, made by the tenant admin."""
    email = "dev@acme.test"
    created = client.post(
        f"/v1/tenants/{admin.tenant_id}/users",
        json={
            "email": email,
            "password": "member-password-1",
            "roles": ["member"],
            "projects": [admin.project_id],
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    token = login(client, email, "member-password-1")
    return TenantCtx(admin.tenant_id, admin.project_id, token, email)


def test_an_operator_sets_quotas_and_the_tenant_admin_sees_them_in_usage(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    limits = {"running_jobs": 3, "queued_jobs": 10, "shots_per_day": 100_000}
    answer = set_tenant_quota(
        client,
        operator_headers,
        acme.tenant_id,
        plan="premium",
        allowed_regions=["local", "eu-west"],
        qpu_seconds_per_month=3600,
        **limits,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["weight"] == 8
    assert submit(client, acme).status_code == 201  # 1,000 shots, queued

    seen = usage(client, acme)

    assert (seen["plan"], seen["weight"]) == ("premium", 8)
    assert seen["allowed_regions"] == ["eu-west", "local"]
    assert seen["quota"] == NO_LIMITS | limits | {"qpu_seconds_per_month": 3600}
    assert seen["usage"] | {"qpu_seconds_this_month": 0} == {
        "running_jobs": 0,
        "queued_jobs": 1,
        "shots_today": 1000,
        "qpu_seconds_this_month": 0,
        "simulator_seconds_this_month": 0,
    }
    [project] = seen["projects"]
    assert (project["project_id"], project["quota"]) == (acme.project_id, NO_LIMITS)
    assert project["usage"]["shots_today"] == 1000
    shots_reset = datetime.fromisoformat(seen["shots_reset_at"])
    seconds_reset = datetime.fromisoformat(seen["seconds_reset_at"])
    now = datetime.now(UTC)
    assert now < shots_reset <= now + timedelta(days=1)
    assert (shots_reset.time(), seconds_reset.day) == (datetime.min.time(), 1)


def test_a_tenant_admin_cannot_set_the_tenants_own_quotas(
    client: TestClient, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    refused = set_tenant_quota(client, admin.headers, acme.tenant_id, running_jobs=1000)
    assert refused.status_code == 403, refused.text
    assert usage(client, acme)["quota"] == NO_LIMITS


def test_another_tenants_usage_answers_like_a_missing_tenant(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    answers = [
        client.get(f"/v1/tenants/{tenant}/usage", headers=globex.headers)
        for tenant in (acme.tenant_id, ids.new_id(ids.TENANT))
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]
    assert acme.project_id not in answers[0].text


def test_an_unknown_plan_is_refused(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    refused = set_tenant_quota(client, operator_headers, acme.tenant_id, plan="platinum")
    assert refused.status_code == 422
    assert refused.json()["allowed"] == ["free", "premium", "standard"]


def test_a_tenant_admin_shares_quotas_out_to_a_project_and_a_member_cannot(
    client: TestClient, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    answer = set_project_quota(client, admin, queued_jobs=2, allowed_regions=["local"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["allowed_regions"] == ["local"]

    member = with_mfa(client, _member(client, admin))
    refused = set_project_quota(client, member, queued_jobs=200)
    assert refused.status_code == 403, refused.text

    [project] = usage(client, acme)["projects"]
    assert project["quota"] == NO_LIMITS | {"queued_jobs": 2}
    assert project["allowed_regions"] == ["local"]


def test_another_tenants_project_quota_answers_like_a_missing_project(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    """B under A's tenant, A's project under B's tenant, and B's project under A's tenant
    all answer exactly as made-up ids do; A's project keeps its quota."""
    b = with_mfa(client, globex)
    paths = [
        (acme.tenant_id, acme.project_id),
        (globex.tenant_id, acme.project_id),
        (acme.tenant_id, globex.project_id),
    ]
    for tenant_id, project_id in paths:
        real = client.put(
            f"/v1/tenants/{tenant_id}/projects/{project_id}/quotas",
            json={"queued_jobs": 0},
            headers=b.headers,
        )
        ghost = client.put(
            f"/v1/tenants/{tenant_id.replace(acme.tenant_id, ids.new_id(ids.TENANT))}"
            f"/projects/{project_id.replace(acme.project_id, ids.new_id(ids.PROJECT))}/quotas",
            json={"queued_jobs": 0},
            headers=b.headers,
        )
        assert (real.status_code, real.json()["detail"]) == (404, "project not found")
        assert (ghost.status_code, ghost.json()["detail"]) == (404, "project not found")
    [project] = usage(client, acme)["projects"]
    assert project["quota"] == NO_LIMITS


def test_a_submission_over_a_quota_is_refused_with_the_limit_and_records_nothing(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    assert set_tenant_quota(client, operator_headers, acme.tenant_id, shots_per_day=1500).is_success
    first = submit(client, acme)
    assert first.status_code == 201, first.text

    refused = submit(client, acme)  # 1,000 more shots: 2,000 > 1,500

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == "https://qplane.dev/problems/quota-exceeded"
    assert (problem["limit"], problem["scope"]) == ("shots_per_day", "tenant")
    assert (problem["used"], problem["allowed"]) == (1000, 1500)
    resets = datetime.fromisoformat(problem["resets_at"])
    assert resets.time() == datetime.min.time()
    assert resets > datetime.now(UTC)
    listed = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=acme.headers).json()
    assert [job["id"] for job in listed["items"]] == [first.json()["id"]]
    audited = client.get(
        "/v1/audit/entries", params={"action": "job.refused"}, headers=acme.headers
    ).json()
    assert [e["outcome"] for e in audited["items"]] == ["denied"]
    assert "shots per day" in audited["items"][0]["detail"]


def test_a_project_limited_to_a_region_refuses_a_backend_elsewhere(
    client: TestClient, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    assert set_project_quota(client, admin, allowed_regions=["eu-west"]).status_code == 200

    refused = submit(client, acme, backend="emu_heavyhex_127", shots=100)

    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"] == "https://qplane.dev/problems/residency-violation"
    assert "'us-east'" in problem["detail"]
    assert "eu-west" in problem["detail"]
    assert (problem["region"], problem["allowed_regions"]) == ("us-east", ["eu-west"])
    listed = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=acme.headers).json()
    assert listed["items"] == []
    assert submit(client, acme, backend="emu_heavyhex_27", shots=100).status_code == 201


def test_a_project_region_outside_the_tenants_is_refused(
    client: TestClient, acme: TenantCtx, operator_headers: dict[str, str]
) -> None:
    limited = set_tenant_quota(
        client, operator_headers, acme.tenant_id, allowed_regions=["eu-west"]
    )
    assert limited.status_code == 200, limited.text
    admin = with_mfa(client, acme)

    refused = set_project_quota(client, admin, allowed_regions=["us-east"])

    assert refused.status_code == 422, refused.text
    assert refused.json()["outside"] == ["us-east"]
    assert usage(client, acme)["projects"][0]["allowed_regions"] == []
