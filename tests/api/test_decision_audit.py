"""Every denied decision, and every allowed privileged one, is audited with its policies."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.domain.audit import AuditEntry
from tests.api.conftest import BELL, TenantCtx, login, with_mfa


def _chain(platform: Platform, chain: str) -> list[AuditEntry]:
    with platform.database.unit_of_work() as uow:
        return list(uow.audit.entries(chain))


def test_a_denied_decision_names_the_policies_that_decided_it(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "member-password-1", "roles": ["member"]},
        headers=acme.headers,
    )
    member = {"Authorization": f"Bearer {login(client, 'dev@acme.test', 'member-password-1')}"}
    body = {"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"}

    assert client.post("/v1/jobs", json=body, headers=member).status_code == 404

    denied = [e for e in _chain(platform, acme.tenant_id) if e.action == "authz.deny"]
    assert len(denied) == 1
    assert denied[0].detail is not None
    assert "job.submit" in denied[0].detail
    assert "policies=baseline.project-membership" in denied[0].detail


def test_an_allowed_privileged_decision_is_audited_with_the_action(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    me = client.get("/v1/me", headers=admin.headers).json()["id"]

    response = client.put(
        f"/v1/tenants/{acme.tenant_id}/groups/approvers/members/{me}", headers=admin.headers
    )

    assert response.status_code == 200
    entries = _chain(platform, acme.tenant_id)
    allowed = [e for e in entries if e.action == "authz.allow"]
    assert [e.detail for e in allowed] == [
        f"allow group.manage on Tenant::{acme.tenant_id}; policies=baseline.role.tenant-admin"
    ]
    # In the same transaction as the change it allowed.
    assert [e.action for e in entries][-2:] == ["authz.allow", "group.member.add"]


def test_a_probe_of_another_tenant_is_the_platforms_event_not_the_probers(
    client: TestClient, platform: Platform, acme: TenantCtx, globex: TenantCtx
) -> None:
    response = client.get(f"/v1/tenants/{acme.tenant_id}/projects", headers=globex.headers)

    assert response.status_code == 404
    assert acme.tenant_id not in repr(_chain(platform, globex.tenant_id))
    probes = [e for e in _chain(platform, "platform") if e.action == "authz.deny"]
    assert len(probes) == 1
    assert probes[0].detail is not None
    assert f"from tenant {globex.tenant_id}" in probes[0].detail
    assert "baseline.cross-tenant" in probes[0].detail


def test_a_privileged_decision_taken_before_the_service_acts_is_kept(
    client: TestClient, platform: Platform, operator_headers: dict[str, str]
) -> None:
    response = client.post(
        "/v1/revocations", json={"scope": "worker", "id": "wrk_nobody"}, headers=operator_headers
    )

    assert response.status_code == 404  # allowed, then the worker was not found
    allowed = [e for e in _chain(platform, "platform") if e.action == "authz.allow"]
    assert [e.detail for e in allowed] == [
        "allow worker.revoke on Worker::wrk_nobody; policies=baseline.role.operator"
    ]
