"""Who may touch a tenant's policy versions, what a push must pass, and the decision-path lookup.

Every test runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from qplane.bootstrap import Platform
from qplane.domain.errors import IntegrityError
from qplane.policy.active import ActivePolicies
from qplane.policy.engine import PolicyEngine
from qplane.policy.tenant_policies import TenantPolicySet
from qplane.store.models_policy import PolicyVersionRow
from tests.api.conftest import TenantCtx, with_mfa
from tests.api.policy_support import (
    add_user,
    bundle,
    policies_url,
    principal_id,
    push,
    put_in_group,
    qubit_limit_cases,
)


@pytest.fixture
def admin(client: TestClient, acme: TenantCtx) -> TenantCtx:
    return with_mfa(client, acme)


def _naming(entity: str) -> str:
    return f'@id("named")\nforbid (principal in {entity}, action, resource);\n'


def _invalid_bodies(acme: TenantCtx, globex: TenantCtx) -> dict[str, tuple[dict[str, Any], str]]:
    """Push bodies the server must refuse, with a fragment of the refusal."""
    cases = qubit_limit_cases("acme", 30)
    return {
        "not cedar": (
            {
                "policies": '@id("x")\npermit (principal, action, resource)\nwhen { oops',
                "cases": cases,
            },
            "do not parse",
        ),
        "not the schema": (
            {
                "policies": '@id("bad-attr")\nforbid (principal, action, resource)\n'
                'when { resource.colour == "red" };\n',
                "cases": cases,
            },
            "'bad-attr'",
        ),
        "globex's project": (
            {
                "policies": '@id("steal")\npermit (principal, action, resource in '
                f'Qplane::Project::"{globex.project_id}");\n',
                "cases": cases,
            },
            "not an entity of this tenant",
        ),
        "a baseline id": (
            {
                "policies": '@id("baseline.cross-tenant")\npermit (principal, action, resource);\n',
                "cases": cases,
            },
            "reserved for the platform baseline",
        ),
        "a group of globex only": (
            {"policies": _naming('Qplane::Group::"globex-staff"'), "cases": cases},
            "not an entity of this tenant",
        ),
        "cases for another tenant": (
            {"policies": "", "cases": qubit_limit_cases("globex", 30)},
            "describes tenant 'globex'",
        ),
        "no cases": ({"policies": "", "cases": "# nothing\n"}, "at least one case"),
        "a misspelt case": (
            {"policies": "", "cases": cases.replace("expect: deny", "expcet: deny")},
            "unknown field",
        ),
    }


INVALID = [
    "not cedar",
    "not the schema",
    "globex's project",
    "a baseline id",
    "a group of globex only",
    "cases for another tenant",
    "no cases",
    "a misspelt case",
]


@pytest.mark.parametrize("case", INVALID)
def test_an_invalid_push_is_refused_and_records_no_version(
    client: TestClient,
    platform: Platform,
    admin: TenantCtx,
    globex: TenantCtx,
    case: str,
) -> None:
    put_in_group(platform, globex.tenant_id, principal_id(client, globex), "globex-staff")
    body, fragment = _invalid_bodies(admin, globex)[case]
    response = client.post(
        policies_url(admin), json={**body, "reason": "try"}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fragment in response.json()["detail"]
    assert client.get(policies_url(admin), headers=admin.headers).json() == []


def test_a_refusal_names_the_policy_and_its_line(client: TestClient, admin: TenantCtx) -> None:
    policies = "// first\n" + bundle()["policies"] + _naming('Qplane::Group::"nobody"')
    body = {"policies": policies, "cases": bundle()["cases"], "reason": "x"}
    refused = client.post(policies_url(admin), json=body, headers=admin.headers).json()
    assert "policy 'named' (line 6)" in refused["detail"]  # its @id line, in the joined text
    assert refused["line"] == 6


def test_a_group_of_the_tenant_may_be_named(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    put_in_group(platform, admin.tenant_id, principal_id(client, admin), "acme-staff")
    body = {
        "policies": bundle()["policies"] + _naming('Qplane::Group::"acme-staff"'),
        "cases": bundle()["cases"],
        "reason": "staff",
    }
    assert push(client, admin, body)["status"] == "active"


def test_privileged_changes_without_a_recent_mfa_get_the_step_up_challenge(
    client: TestClient, acme: TenantCtx
) -> None:
    attempts = [
        ("POST", policies_url(acme), bundle()),
        ("POST", policies_url(acme, "/1/approve"), None),
        ("POST", policies_url(acme, "/1/activate"), None),
        ("PUT", f"/v1/tenants/{acme.tenant_id}/policy-settings", {"require_approval": True}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=acme.headers)
        assert response.status_code == 401, (path, response.text)
        assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]
    reads = [policies_url(acme), f"/v1/tenants/{acme.tenant_id}/policy-settings"]
    for path in reads:
        assert client.get(path, headers=acme.headers).status_code == 200
    del attempts[0][2]["reason"]
    tested = client.post(policies_url(acme, "/test"), json=attempts[0][2], headers=acme.headers)
    assert tested.status_code == 200, tested.text


def test_another_tenant_cannot_see_approve_or_activate_acmes_versions(
    client: TestClient, admin: TenantCtx, globex: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    push(client, admin, bundle(limit=20))
    outsider = with_mfa(client, globex)
    attempts = [
        ("GET", policies_url(admin), None),
        ("GET", policies_url(admin, "/1"), None),
        ("POST", policies_url(admin, "/2/approve"), None),
        ("POST", policies_url(admin, "/1/activate"), None),
        ("POST", policies_url(admin), bundle("globex")),
        ("POST", policies_url(admin, "/test"), {"policies": "", "cases": "x: 1"}),
        ("GET", f"/v1/tenants/{admin.tenant_id}/policy-settings", None),
        ("PUT", f"/v1/tenants/{admin.tenant_id}/policy-settings", {"require_approval": True}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=outsider.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(policies_url(admin, "/2"), headers=admin.headers).json()["status"] == "active"
    missing = client.get(policies_url(admin, "/9"), headers=admin.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("roles", [["member"], ["viewer"]])
def test_members_and_viewers_are_refused(
    client: TestClient,
    operator_headers: dict[str, str],
    admin: TenantCtx,
    roles: list[str],
) -> None:
    push(client, admin, bundle())
    user = add_user(client, operator_headers, admin, f"{roles[0]}@acme.test", roles, mfa=True)
    for method, path, body in [
        ("GET", policies_url(admin), None),
        ("GET", policies_url(admin, "/1"), None),
        ("POST", policies_url(admin), bundle(limit=5)),
        ("POST", policies_url(admin, "/1/activate"), None),
        ("PUT", f"/v1/tenants/{admin.tenant_id}/policy-settings", {"require_approval": True}),
    ]:
        response = client.request(method, path, json=body, headers=user.headers)
        assert response.status_code == 403, (method, path, response.text)


def test_operators_may_not_change_a_tenants_policies(
    client: TestClient, operator_headers: dict[str, str], admin: TenantCtx
) -> None:
    for method, path, body in [
        ("GET", policies_url(admin), None),
        ("POST", policies_url(admin), bundle()),
        ("PUT", f"/v1/tenants/{admin.tenant_id}/policy-settings", {"require_approval": False}),
    ]:
        response = client.request(method, path, json=body, headers=operator_headers)
        assert response.status_code == 403, (method, path, response.text)


class _CountingEngine(PolicyEngine):
    loads = 0

    def load_tenant_policies(self, tenant_id: str, text: str) -> TenantPolicySet:
        self.loads += 1
        return super().load_tenant_policies(tenant_id, text)


def test_the_active_set_is_parsed_once_per_version_not_per_lookup(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    engine = _CountingEngine()
    active = ActivePolicies(platform.database, engine)
    push(client, admin, bundle(limit=30))
    first = active.for_tenant(admin.tenant_id)
    for _ in range(5):
        assert active.for_tenant(admin.tenant_id) is first
    assert engine.loads == 1
    push(client, admin, bundle(limit=20))  # another version: seen on the next lookup
    second = active.for_tenant(admin.tenant_id)
    assert second is not None
    assert second is not first
    assert "> 20" in second.text
    assert engine.loads == 2
    with platform.database.unit_of_work() as uow:
        assert active.for_tenant(admin.tenant_id, uow) is second


def test_a_stored_version_that_no_longer_matches_its_digest_is_refused(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    with Session(platform.database.engine) as session:
        session.execute(
            update(PolicyVersionRow)
            .where(PolicyVersionRow.tenant_id == admin.tenant_id)
            .values(policy_text="// emptied behind the platform's back\n")
        )
        session.commit()
    with pytest.raises(IntegrityError):
        ActivePolicies(platform.database, PolicyEngine()).for_tenant(admin.tenant_id)
