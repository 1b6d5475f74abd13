"""What an audit entry says: who acted (kind, auth method, address), in which request, on
which job and backend, which policies decided, and never the sensitive values themselves.

Everything here goes through the real API, as a client at a known address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.api import conftest as api_fixtures
from tests.api.conftest import BELL, InProcessWorker, TenantCtx, login, with_mfa
from tests.api.test_jobs_api import run_leased_job, submit
from tests.shared_app import app_for

from qplane.audit.actors import actor_facts
from qplane.bootstrap import Platform
from qplane.domain import ids
from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.tenancy import PrincipalKind, Role
from qplane.policy.actor import Actor
from qplane.store.models_audit import AuditEntryRow

#: RFC 5737 documentation address: the client the API sees.
CLIENT_ADDRESS: Final = "203.0.113.7"
REQUEST_ID: Final = "req-entry-fields-0001"
IDP_SECRET: Final = "idp-client-secret-never-logged-4242"

# The API tests' real platform, tenant and worker (pytest finds fixtures by module name).
platform = api_fixtures.platform
operator_mfa = api_fixtures.operator_mfa
operator_headers = api_fixtures.operator_headers
acme = api_fixtures.acme
worker = api_fixtures.worker


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """The API, called from `CLIENT_ADDRESS`."""
    app = app_for(platform)
    with TestClient(app, client=(CLIENT_ADDRESS, 50123)) as test_client:
        yield test_client


def entries(platform: Platform, log: str) -> list[AuditEntry]:
    with platform.database.unit_of_work() as uow:
        return list(uow.audit.entries(log))


def only(found: list[AuditEntry], action: str) -> AuditEntry:
    matching = [entry for entry in found if entry.action == action]
    assert len(matching) == 1, [entry.action for entry in found]
    return matching[0]


def test_a_submission_names_the_actor_request_job_backend_and_allowing_policies(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    me = client.get("/v1/me", headers=acme.headers).json()["id"]
    body = {"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"}

    response = client.post(
        "/v1/jobs", json=body, headers={**acme.headers, "X-Request-ID": REQUEST_ID}
    )

    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    log = entries(platform, acme.tenant_id)
    submitted = only(log, "job.submitted")
    assert (submitted.actor_id, submitted.actor_kind, submitted.auth_method) == (me, "user", "pwd")
    assert (submitted.source_ip, submitted.request_id) == (CLIENT_ADDRESS, REQUEST_ID)
    assert (submitted.job_id, submitted.backend) == (job_id, "aer_statevector")
    # The permits that allowed job.submit for a tenant admin who is also a member.
    assert submitted.policy_ids == ("baseline.role.member", "baseline.role.tenant-admin")
    assert submitted.decision is None  # a change, not a decision
    # The lifecycle moves of the same request name the same job and backend.
    queued = only(log, "job.queued")
    assert (queued.job_id, queued.backend, queued.request_id) == (
        job_id,
        "aer_statevector",
        REQUEST_ID,
    )


def test_a_denied_decision_names_deny_and_the_forbidding_policies(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "member-password-1", "roles": ["member"]},
        headers=acme.headers,
    )
    member = {"Authorization": f"Bearer {login(client, 'dev@acme.test', 'member-password-1')}"}
    body = {"project_id": acme.project_id, "source": BELL, "backend": "aer_statevector"}

    response = client.post("/v1/jobs", json=body, headers={**member, "X-Request-ID": REQUEST_ID})

    assert response.status_code == 404  # not a member of the project
    log = entries(platform, acme.tenant_id)
    denied = only(log, "authz.deny")
    assert (denied.decision, denied.outcome) == ("deny", Outcome.DENIED)
    assert denied.policy_ids == ("baseline.project-membership",)
    assert (denied.actor_kind, denied.auth_method) == ("user", "pwd")
    assert (denied.source_ip, denied.request_id) == (CLIENT_ADDRESS, REQUEST_ID)
    assert denied.backend == "aer_statevector"
    assert ids.is_well_formed(denied.job_id or "", ids.JOB)  # the job it would have been
    assert not [entry for entry in log if entry.action == "job.submitted"]


def test_an_allowed_privileged_decision_names_allow_and_its_policies(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    me = client.get("/v1/me", headers=admin.headers).json()["id"]

    client.put(f"/v1/tenants/{acme.tenant_id}/groups/approvers/members/{me}", headers=admin.headers)

    log = entries(platform, acme.tenant_id)
    allowed = only(log, "authz.allow")
    assert (allowed.decision, allowed.policy_ids) == ("allow", ("baseline.role.tenant-admin",))
    assert (allowed.actor_kind, allowed.auth_method) == ("user", "pwd+otp")
    # The change it allowed names the same policies.
    assert only(log, "group.member.add").policy_ids == ("baseline.role.tenant-admin",)


def test_a_workers_report_names_the_worker_its_key_and_the_job(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]

    assert run_leased_job(client, platform, worker) == job_id

    reported = only(entries(platform, acme.tenant_id), "job.succeeded")
    assert (reported.actor_id, reported.actor_kind) == (worker.worker_id, "worker")
    assert reported.auth_method == "private_key_jwt"
    assert (reported.job_id, reported.backend) == (job_id, "aer_statevector")
    assert reported.policy_ids == ("baseline.role.worker",)
    assert [what for what, _ in reported.correlations] == ["result"]


def test_no_audit_column_holds_a_circuit_a_result_or_an_idp_secret(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    counts = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).json()["counts"]
    admin = with_mfa(client, acme)
    registered = client.post(
        f"/v1/tenants/{acme.tenant_id}/identity-providers",
        json={
            "name": "corp",
            "issuer": "https://idp.acme.test",
            "client_id": "qplane",
            "client_secret": IDP_SECRET,
            "allowed_domains": ["acme.test"],
        },
        headers=admin.headers,
    )
    assert registered.status_code == 201, registered.text
    needles = [
        "cx q[0],q[1]",  # the circuit's text
        BELL.replace("\n", "\\n"),
        *(f'"{outcome}": {n}' for outcome, n in counts.items()),  # the result's counts
        *(f'"{outcome}":{n}' for outcome, n in counts.items()),
        IDP_SECRET,
    ]

    with platform.database.engine.connect() as conn:  # every column of every entry, as stored
        stored = [row._asdict() for row in conn.execute(select(AuditEntryRow.__table__)).all()]

    assert len(stored) > 10  # the run was recorded …
    text = repr(stored)
    assert [needle for needle in needles if needle in text] == []  # … without its content
    register = only(entries(platform, acme.tenant_id), "idp.register")
    assert [what for what, _ in register.correlations] == ["client_secret"]


def _actor(principal_id: str, **fields: Any) -> Actor:
    return Actor(principal_id, PrincipalKind.USER, "ten_x", frozenset({Role.MEMBER}), **fields)


@pytest.mark.parametrize(
    ("actor", "kind", "method"),
    [
        pytest.param(_actor("usr_1", amr=("pwd",)), "user", "pwd", id="password"),
        pytest.param(_actor("usr_1", amr=("pwd", "otp")), "user", "pwd+otp", id="second-factor"),
        pytest.param(
            Actor("usr_2", PrincipalKind.SERVICE, "ten_x", frozenset(), amr=("fed",)),
            "service",
            "fed",
            id="federated-workload",
        ),
        pytest.param(
            Actor("key_" + "0" * 32, PrincipalKind.SERVICE, "ten_x", frozenset()),
            "service",
            "api_key",
            id="api-key",
        ),
        pytest.param("wrk_" + "1" * 32, "worker", "private_key_jwt", id="worker"),
        pytest.param(None, None, None, id="the-platform-itself"),
    ],
)
def test_each_kind_of_caller_is_recognisable(
    actor: Actor | str | None, kind: str | None, method: str | None
) -> None:
    facts = actor_facts(actor)

    assert (facts.actor_kind, facts.auth_method) == (kind, method)
