"""Policy bundles and people for the policy-version API tests.

A bundle is what `qplane policy push` sends: Cedar text and its cases. The
one used most forbids jobs above a qubit limit, so two limits make two
different, passing versions, and a case expecting the wrong answer makes a
failing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qplane.bootstrap import Platform
from qplane.store.models_membership import PrincipalGroupRow
from tests.api.conftest import TenantCtx, enrol_totp, login, with_mfa

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def qubit_limit_policy(limit: int) -> str:
    return (
        f"// No job above {limit} qubits.\n"
        '@id("qubit-limit")\n'
        'forbid (principal, action == Qplane::Action::"job.submit", resource)\n'
        f"when {{ resource.qubits > {limit} }};\n"
    )


def qubit_limit_cases(tenant: str, limit: int, *, expect_at_limit: str = "allow") -> str:
    return f"""tenant: {{id: {tenant}}}
backends:
  sim: {{kind: simulator, region: eu-west, production: false, max_qubits: 64}}
cases:
  - name: a job at the limit runs
    principal: {{type: User, id: mia, roles: [member], projects: [qml]}}
    action: job.submit
    resource: {{type: Job, id: job-1, project: qml, backend: sim, qubits: {limit}}}
    expect: {expect_at_limit}
  - name: a job above the limit is refused
    principal: {{type: User, id: mia, roles: [member], projects: [qml]}}
    action: job.submit
    resource: {{type: Job, id: job-2, project: qml, backend: sim, qubits: {limit + 1}}}
    expect: deny
    policies: [qubit-limit]
"""


def bundle(
    tenant: str = "acme", limit: int = 30, *, passing: bool = True, reason: str = "cap job size"
) -> dict[str, Any]:
    """A push body; with ``passing=False`` one case expects a deny the policy does not give."""
    cases = qubit_limit_cases(tenant, limit, expect_at_limit="allow" if passing else "deny")
    return {"policies": qubit_limit_policy(limit), "cases": cases, "reason": reason}


def policies_url(tenant: TenantCtx, suffix: str = "") -> str:
    return f"/v1/tenants/{tenant.tenant_id}/policies{suffix}"


def push(client: TestClient, tenant: TenantCtx, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(policies_url(tenant), json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def settings(client: TestClient, tenant: TenantCtx) -> dict[str, Any]:
    response = client.get(f"/v1/tenants/{tenant.tenant_id}/policy-settings", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def require_approval(client: TestClient, tenant: TenantCtx, on: bool) -> None:
    response = client.put(
        f"/v1/tenants/{tenant.tenant_id}/policy-settings",
        json={"require_approval": on},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text


def add_user(
    client: TestClient,
    operator_headers: dict[str, str],
    tenant: TenantCtx,
    email: str,
    roles: list[str],
    *,
    mfa: bool = False,
) -> TenantCtx:
    """Another principal of *tenant* (logged in; enrolled in TOTP with *mfa*)."""
    created = client.post(
        f"/v1/tenants/{tenant.tenant_id}/users",
        json={"email": email, "password": "user-password-1", "roles": roles},
        headers=operator_headers,
    )
    assert created.status_code == 201, created.text
    token = login(client, email, "user-password-1")
    if mfa:
        token = enrol_totp(client, token).token
    return TenantCtx(tenant.tenant_id, tenant.project_id, token, email)


def principal_id(client: TestClient, tenant: TenantCtx) -> str:
    return str(client.get("/v1/me", headers=tenant.headers).json()["id"])


def put_in_group(platform: Platform, tenant_id: str, principal: str, group: str) -> None:
    """Directory data a policy may name: *principal* in *group* (as an IdP mapping would)."""
    with Session(platform.database.engine) as session:
        session.add(
            PrincipalGroupRow(
                tenant_id=tenant_id,
                principal_id=principal,
                group_name=group,
                source="manual",
                created_at=datetime.now(UTC),
            )
        )
        session.commit()


def audit_entries(client: TestClient, tenant: TenantCtx, action: str) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/audit/entries", params={"action": action, "limit": 200}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def consultant(
    client: TestClient, platform: Platform, tenant: TenantCtx, operator_headers: dict[str, str]
) -> tuple[TenantCtx, TenantCtx]:
    """(admin, consultant) of *tenant* under the shipped consultants-results-only policy.

    A viewer in the ``acme-consultants`` group and a member of the tenant's
    project; the tenant's admin (given a second factor here) pushed the
    example policy, which opens results and keeps circuits and logs closed.
    """
    admin = with_mfa(client, tenant)
    example = EXAMPLES / "consultants-results-only"
    carla = add_user(client, operator_headers, tenant, "carla@acme.test", roles=["viewer"])
    carla_id = principal_id(client, carla)
    put_in_group(platform, tenant.tenant_id, carla_id, "acme-consultants")
    # The group exists now, so the tenant's policies may name it.
    push(
        client,
        admin,
        {
            "policies": (example / "policy.cedar").read_text(),
            "cases": (example / "cases.yaml").read_text(),
            "reason": "consultants see results only",
        },
    )
    added = client.put(
        f"/v1/tenants/{tenant.tenant_id}/projects/{tenant.project_id}/members/{carla_id}",
        headers=admin.headers,
    )
    assert added.status_code in (200, 204), added.text
    return admin, carla
