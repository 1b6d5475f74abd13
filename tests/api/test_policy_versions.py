"""Tenant policy versions through the API: push, tests, approval, rollback, immutability.

Every test runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.broker.policy_bundles import PolicyBundle
from qplane.domain.tenancy import PrincipalKind, Role
from qplane.identity.stepup import MFA_ACR
from qplane.policy.actor import Actor
from tests.api.conftest import TenantCtx, with_mfa
from tests.api.policy_support import (
    EXAMPLES,
    add_user,
    audit_entries,
    bundle,
    policies_url,
    principal_id,
    push,
    put_in_group,
    require_approval,
    settings,
)


@pytest.fixture
def admin(client: TestClient, acme: TenantCtx) -> TenantCtx:
    """acme's admin with a recent MFA: what privileged policy changes need."""
    return with_mfa(client, acme)


@pytest.fixture
def second_admin(
    client: TestClient, operator_headers: dict[str, str], acme: TenantCtx
) -> TenantCtx:
    return add_user(client, operator_headers, acme, "admin2@acme.test", ["tenant_admin"], mfa=True)


def _versions(client: TestClient, admin: TenantCtx) -> list[dict[str, object]]:
    response = client.get(policies_url(admin), headers=admin.headers)
    assert response.status_code == 200, response.text
    versions: list[dict[str, object]] = response.json()
    return versions


def test_a_valid_push_becomes_the_active_version(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    assert platform.active_policies.for_tenant(admin.tenant_id) is None
    created = push(client, admin, bundle(limit=30))
    assert created["version"] == 1
    assert created["status"] == "active"
    assert created["tests"] == {"passed": True, "total": 2, "failed": 0}
    assert created["author_id"] == principal_id(client, admin)
    assert created["reason"] == "cap job size"
    assert "+forbid (principal" in created["diff"]
    assert settings(client, admin) == {"require_approval": False, "active_version": 1}
    active = platform.active_policies.for_tenant(admin.tenant_id)
    assert active is not None
    assert active.digest == created["digest"]
    assert [p.id for p in active.policies] == [f"tenant:{admin.tenant_id}:qubit-limit"]


def test_versions_list_newest_first_and_show_the_diff_against_the_active_one(
    client: TestClient, admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    second = push(client, admin, bundle(limit=20, reason="tighter"))
    assert [v["version"] for v in _versions(client, admin)] == [2, 1]
    assert [v["status"] for v in _versions(client, admin)] == ["active", "superseded"]
    assert "-when { resource.qubits > 30 };" in second["diff"]
    assert "+when { resource.qubits > 20 };" in second["diff"]
    assert "--- v1/policies.cedar" in second["diff"]
    shown = client.get(policies_url(admin, "/2"), headers=admin.headers).json()
    assert shown["policies"] == bundle(limit=20)["policies"]
    assert shown["cases"] == bundle(limit=20)["cases"]
    assert shown["test_report"].startswith("2/2 cases passed")


def test_a_push_whose_cases_fail_is_kept_but_not_activated(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    failed = push(client, admin, bundle(limit=20, passing=False))
    assert failed["status"] == "tests_failed"
    assert failed["tests"] == {"passed": False, "total": 2, "failed": 1}
    assert "FAIL a job at the limit runs: expected deny, got allow" in failed["test_report"]
    assert settings(client, admin)["active_version"] == 1
    active = platform.active_policies.for_tenant(admin.tenant_id)
    assert active is not None
    assert "> 30" in active.text
    refused = client.post(policies_url(admin, "/2/activate"), headers=admin.headers)
    assert refused.status_code == 409, refused.text
    assert "can never be activated" in refused.json()["detail"]
    assert settings(client, admin)["active_version"] == 1


def test_the_policy_test_route_reports_without_creating_a_version(
    client: TestClient, admin: TenantCtx
) -> None:
    body = bundle(limit=20, passing=False)
    del body["reason"]
    response = client.post(policies_url(admin, "/test"), json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["passed"], report["total"], report["failed"]) == (False, 2, 1)
    failing = next(r for r in report["results"] if not r["passed"])
    assert failing["expected"] == "deny"
    assert failing["decision"] == "allow"
    assert _versions(client, admin) == []


def test_with_approval_required_a_second_admin_activates_the_version(
    client: TestClient, admin: TenantCtx, second_admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    require_approval(client, admin, True)
    pending = push(client, admin, bundle(limit=20))
    assert pending["status"] == "pending_approval"
    assert settings(client, admin) == {"require_approval": True, "active_version": 1}

    own = client.post(policies_url(admin, "/2/approve"), headers=admin.headers)
    assert own.status_code == 403, own.text
    direct = client.post(policies_url(admin, "/2/activate"), headers=admin.headers)
    assert direct.status_code == 409, direct.text
    assert settings(client, admin)["active_version"] == 1

    approved = client.post(policies_url(second_admin, "/2/approve"), headers=second_admin.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    assert approved.json()["approved_by"] == principal_id(client, second_admin)
    assert settings(client, admin)["active_version"] == 2
    again = client.post(policies_url(second_admin, "/2/approve"), headers=second_admin.headers)
    assert again.status_code == 409


def test_a_failing_version_is_never_pending_approval(
    client: TestClient, admin: TenantCtx, second_admin: TenantCtx
) -> None:
    require_approval(client, admin, True)
    failed = push(client, admin, bundle(passing=False))
    assert failed["status"] == "tests_failed"
    refused = client.post(policies_url(second_admin, "/1/approve"), headers=second_admin.headers)
    assert refused.status_code == 409


def test_rollback_to_an_earlier_version_reruns_its_cases_and_activates_it(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    push(client, admin, bundle(limit=20))
    rolled = client.post(policies_url(admin, "/1/activate"), headers=admin.headers)
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["status"] == "active"
    assert settings(client, admin)["active_version"] == 1
    assert [v["status"] for v in _versions(client, admin)] == ["superseded", "active"]
    active = platform.active_policies.for_tenant(admin.tenant_id)
    assert active is not None
    assert "> 30" in active.text
    already = client.post(policies_url(admin, "/1/activate"), headers=admin.headers)
    assert already.status_code == 409


def test_no_route_changes_a_version_once_pushed(client: TestClient, admin: TenantCtx) -> None:
    first = push(client, admin, bundle(limit=30))
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/tenants/{tenant_id}/policies/{version}"]) == {"get"}
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        response = client.request(
            method, policies_url(admin, "/1"), json=bundle(limit=5), headers=admin.headers
        )
        assert response.status_code == 405, (method, response.status_code)
    push(client, admin, bundle(limit=30, reason="same text again"))
    kept = client.get(policies_url(admin, "/1"), headers=admin.headers).json()
    assert kept["policies"] == first["policies"]
    assert kept["digest"] == first["digest"]
    assert [v["version"] for v in _versions(client, admin)] == [2, 1]


def test_every_change_is_audited_with_its_version_numbers(
    client: TestClient, admin: TenantCtx, second_admin: TenantCtx
) -> None:
    push(client, admin, bundle(limit=30))
    require_approval(client, admin, True)
    push(client, admin, bundle(limit=20))
    client.post(policies_url(second_admin, "/2/approve"), headers=second_admin.headers)
    client.post(policies_url(admin, "/1/activate"), headers=admin.headers)

    pushes = audit_entries(client, admin, "policy.push")
    assert sorted(e["target"] for e in pushes) == ["policy-version:1", "policy-version:2"]
    assert any("version 2 pushed: pending_approval" in e["detail"] for e in pushes)
    assert all("reason:" in e["detail"] for e in pushes)
    [approval] = audit_entries(client, admin, "policy.approve")
    assert approval["target"] == "policy-version:2"
    assert approval["actor_id"] == principal_id(client, second_admin)
    activations = [e["detail"] for e in audit_entries(client, admin, "policy.activate")]
    assert "version 1 activated, replacing no version" in activations
    assert "version 2 activated, replacing version 1" in activations
    [rollback] = audit_entries(client, admin, "policy.rollback")
    assert rollback["detail"] == "version 1 activated (rollback from version 2)"
    [setting] = audit_entries(client, admin, "policy.settings.update")
    assert setting["detail"] == "require_approval: off -> on"
    verified = client.get("/v1/audit/verify", headers=admin.headers).json()
    assert verified["ok"] is True


def test_the_shipped_examples_push_and_pass_on_the_real_server(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    me = principal_id(client, admin)
    for group in ("acme-approvers", "acme-consultants", "acme-researchers"):
        put_in_group(platform, admin.tenant_id, me, group)
    directories = sorted(path for path in EXAMPLES.iterdir() if path.is_dir())
    for number, directory in enumerate(directories, start=1):
        body = {
            "policies": (directory / "policy.cedar").read_text(),
            "cases": (directory / "cases.yaml").read_text(),
            "reason": f"example {directory.name}",
        }
        created = push(client, admin, body)
        assert (created["version"], created["status"]) == (number, "active"), created
        assert created["tests"]["failed"] == 0
    assert settings(client, admin)["active_version"] == len(directories)


def test_concurrent_pushes_get_distinct_numbers_and_one_active_version(
    client: TestClient, platform: Platform, admin: TenantCtx
) -> None:
    actor = Actor(
        principal_id(client, admin),
        PrincipalKind.USER,
        admin.tenant_id,
        frozenset({Role.TENANT_ADMIN}),
        acr=MFA_ACR,
        auth_time=int(time.time()),
    )
    limits = [10, 11, 12, 13]
    barrier = threading.Barrier(len(limits))
    errors: list[BaseException] = []

    def push_limit(limit: int) -> None:
        body = bundle(limit=limit)
        barrier.wait()
        try:
            platform.policies.push(
                actor, admin.tenant_id, PolicyBundle(body["policies"], body["cases"]), "race"
            )
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=push_limit, args=(limit,)) for limit in limits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = _versions(client, admin)
    assert sorted(v["version"] for v in versions) == [1, 2, 3, 4]
    assert [v["status"] for v in versions].count("active") == 1
    assert settings(client, admin)["active_version"] == 4
