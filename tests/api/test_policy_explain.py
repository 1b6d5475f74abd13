"""Explain: a security reviewer asks what the live policies decide, without running jobs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import BELL, TenantCtx, with_mfa

PASSWORD = "member-password-1"


def _member(client: TestClient, tenant: TenantCtx, email: str) -> str:
    created = client.post(
        f"/v1/tenants/{tenant.tenant_id}/users",
        json={"email": email, "password": PASSWORD, "roles": ["member"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    principal_id: str = created.json()["id"]
    return principal_id


def _explain(client: TestClient, tenant: TenantCtx, headers: dict[str, str], **body: Any) -> Any:
    return client.post(
        f"/v1/tenants/{tenant.tenant_id}/policies/explain", json=body, headers=headers
    )


def test_the_decision_and_its_determining_policies_are_explained(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    member = _member(client, acme, "dev@acme.test")
    job = client.post(
        "/v1/jobs",
        json={"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"},
        headers=acme.headers,
    ).json()

    outside = _explain(
        client, acme, acme.headers,
        principal="dev@acme.test", action="artifact.read", resource=f"artifact:{job['id']}:circuit",
    )  # fmt: skip
    assert outside.status_code == 200, outside.text
    assert outside.json()["decision"] == "deny"
    assert outside.json()["policy_ids"] == ["baseline.project-membership"]
    assert "forbid" in outside.json()["policies"][0]["text"]

    client.put(
        f"/v1/tenants/{acme.tenant_id}/projects/{acme.project_id}/members/{member}",
        headers=acme.headers,
    )
    inside = _explain(
        client, acme, acme.headers,
        principal=member, action="artifact.read", resource=f"artifact:{job['id']}:circuit",
    ).json()  # fmt: skip
    assert inside["decision"] == "allow"
    assert inside["policy_ids"] == ["baseline.role.member"]
    with platform.database.unit_of_work() as uow:
        assert "policy.explain" in [e.action for e in uow.audit.entries(acme.tenant_id)]


def test_a_hypothetical_without_a_second_factor_shows_the_step_up_rule(
    client: TestClient, acme: TenantCtx
) -> None:
    me = client.get("/v1/me", headers=acme.headers).json()

    body = _explain(
        client, acme, acme.headers,
        principal=me["id"], action="idp.manage", resource="tenant", mfa=False,
    ).json()  # fmt: skip

    assert body["decision"] == "deny"
    assert body["policy_ids"] == ["baseline.privileged-step-up"]


def test_bad_questions_get_clear_errors(client: TestClient, acme: TenantCtx) -> None:
    me = client.get("/v1/me", headers=acme.headers).json()["id"]
    for body, field in [
        ({"principal": me, "action": "job.teleport", "resource": "tenant"}, "action"),
        ({"principal": me, "action": "job.read", "resource": "spaceship:1"}, "resource"),
    ]:
        response = _explain(client, acme, acme.headers, **body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field


def test_only_the_tenants_admins_ask_and_only_about_their_tenant(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    member = _member(client, acme, "dev@acme.test")
    member_token = client.post(
        "/v1/auth/login", json={"email": "dev@acme.test", "password": PASSWORD}
    ).json()["access_token"]
    question = {"principal": member, "action": "job.list", "resource": "tenant"}

    as_member = _explain(client, acme, {"Authorization": f"Bearer {member_token}"}, **question)
    assert as_member.status_code == 403
    assert _explain(client, acme, globex.headers, **question).status_code == 404
    # Globex's admin cannot ask about acme's principal through globex either.
    assert _explain(client, globex, globex.headers, **question).status_code == 404
    admin = with_mfa(client, acme)
    assert _explain(client, acme, admin.headers, **question).status_code == 200
