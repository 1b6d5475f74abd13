"""Every baseline rule, both ways: what it refuses, and what it leaves allowed."""

from __future__ import annotations

import pytest

from qplane.domain.tenancy import Role
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.decision import DEFAULT_DENY, INVALID_REQUEST, Decision
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import PLATFORM, ArtifactKind, PrincipalFacts, WorkerFacts
from qplane.policy.request import AccessRequest, ResourceLike
from qplane.policy.schema import shipped_text
from tests.policy.world import (
    ACME,
    ADMIN,
    CHEMISTRY,
    CI_BOT,
    FRESH_MFA,
    GLOBEX,
    GLOBEX_ADMIN,
    GLOBEX_MEMBER,
    GLOBEX_RND,
    MEMBER,
    NO_MFA,
    NOBODY,
    OPERATOR,
    QML,
    QPU,
    SIM_WORKER,
    SIMULATOR,
    STALE_MFA,
    VIEWER,
    artifact,
    ask,
    job,
    person,
)


def _allowed_by(decision: Decision, policy_id: str) -> None:
    assert decision.allowed, decision
    assert policy_id in decision.policy_ids, decision


def _denied_by(decision: Decision, policy_id: str) -> None:
    assert not decision.allowed, decision
    assert policy_id in decision.policy_ids, decision


# --- baseline.cross-tenant -------------------------------------------------------


def test_a_member_reads_a_job_of_their_own_tenant(engine: PolicyEngine) -> None:
    _allowed_by(engine.decide(ask(MEMBER, Action.JOB_READ, job())), "baseline.role.member")


def test_other_tenant_cannot_read_a_job(engine: PolicyEngine) -> None:
    request = ask(GLOBEX_ADMIN, Action.JOB_READ, job())
    _denied_by(engine.decide(request), "baseline.cross-tenant")


@pytest.mark.parametrize(
    "action", [Action.AUDIT_READ, Action.PROJECT_LIST, Action.USER_CREATE, Action.KEY_MANAGE]
)
def test_other_tenant_cannot_act_on_the_tenant_itself(engine: PolicyEngine, action: Action) -> None:
    _denied_by(engine.decide(ask(GLOBEX_ADMIN, action, ACME)), "baseline.cross-tenant")


def test_other_tenant_cannot_read_an_artifact_or_list_a_project(engine: PolicyEngine) -> None:
    result = artifact(ArtifactKind.RESULT)
    _denied_by(
        engine.decide(ask(GLOBEX_MEMBER, Action.ARTIFACT_READ, result)), "baseline.cross-tenant"
    )
    _denied_by(engine.decide(ask(GLOBEX_MEMBER, Action.JOB_LIST, QML)), "baseline.cross-tenant")


def test_other_tenant_cannot_revoke_a_users_sessions(engine: PolicyEngine) -> None:
    request = ask(GLOBEX_ADMIN, Action.SESSION_REVOKE, MEMBER)
    _denied_by(engine.decide(request), "baseline.cross-tenant")
    _allowed_by(
        engine.decide(ask(ADMIN, Action.SESSION_REVOKE, MEMBER)), "baseline.role.tenant-admin"
    )


def test_break_glass_lifts_only_the_cross_tenant_rule(engine: PolicyEngine) -> None:
    request = ask(GLOBEX_ADMIN, Action.JOB_READ, job(), break_glass=True)
    _allowed_by(engine.decide(request), "baseline.role.tenant-admin")
    # A member still needs membership of the job's project, elevated or not.
    member = ask(GLOBEX_MEMBER, Action.JOB_READ, job(), break_glass=True)
    _denied_by(engine.decide(member), "baseline.project-membership")


# --- baseline.privileged-step-up ------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        Action.KEY_MANAGE,
        Action.IDP_MANAGE,
        Action.TRUST_POLICY_MANAGE,
        Action.POLICY_PUSH,
        Action.POLICY_APPROVE,
        Action.POLICY_ACTIVATE,
    ],
)
def test_privileged_tenant_actions_need_a_recent_mfa(engine: PolicyEngine, action: Action) -> None:
    _allowed_by(engine.decide(ask(ADMIN, action, ACME)), "baseline.role.tenant-admin")
    without = engine.decide(ask(ADMIN, action, ACME, auth=NO_MFA))
    _denied_by(without, "baseline.privileged-step-up")
    stale = engine.decide(ask(ADMIN, action, ACME, auth=STALE_MFA))
    _denied_by(stale, "baseline.privileged-step-up")


def test_the_step_up_window_is_the_one_in_the_context(engine: PolicyEngine) -> None:
    lenient = AuthFacts(mfa=True, auth_age_s=3600, step_up_max_age_s=7200)
    assert engine.decide(ask(ADMIN, Action.KEY_MANAGE, ACME, auth=lenient)).allowed


def test_revoking_sessions_never_waits_for_a_step_up(engine: PolicyEngine) -> None:
    # Cutting off access is incident response: it must not be blocked by a second factor.
    request = ask(ADMIN, Action.SESSION_REVOKE, MEMBER, auth=NO_MFA)
    _allowed_by(engine.decide(request), "baseline.role.tenant-admin")


def test_anyone_may_revoke_their_own_sessions(engine: PolicyEngine) -> None:
    _allowed_by(
        engine.decide(ask(MEMBER, Action.SESSION_REVOKE, MEMBER, auth=NO_MFA)),
        "baseline.revoke-own-sessions",
    )


def test_only_operators_revoke_a_whole_tenant(engine: PolicyEngine) -> None:
    _denied_by(
        engine.decide(ask(ADMIN, Action.SESSION_REVOKE, ACME, auth=NO_MFA)),
        "baseline.tenant-revocation-operators",
    )


# --- operators ------------------------------------------------------------------------


def test_operators_administer_tenants(engine: PolicyEngine) -> None:
    _allowed_by(
        engine.decide(ask(OPERATOR, Action.TENANT_LIST, PLATFORM)), "baseline.role.operator"
    )
    _allowed_by(
        engine.decide(ask(OPERATOR, Action.TENANT_CREATE, GLOBEX)), "baseline.role.operator"
    )
    _allowed_by(engine.decide(ask(OPERATOR, Action.USER_LIST, ACME)), "baseline.role.operator")
    _allowed_by(
        engine.decide(ask(OPERATOR, Action.BACKEND_LIST, PLATFORM)), "baseline.role.operator"
    )


@pytest.mark.parametrize("action", [Action.TENANT_CREATE, Action.WORKER_REGISTER])
def test_operator_platform_changes_need_a_recent_mfa(engine: PolicyEngine, action: Action) -> None:
    resource: ResourceLike = GLOBEX if action is Action.TENANT_CREATE else SIM_WORKER
    _denied_by(
        engine.decide(ask(OPERATOR, action, resource, auth=NO_MFA)), "baseline.privileged-step-up"
    )
    assert engine.decide(ask(OPERATOR, action, resource)).allowed


@pytest.mark.parametrize("action", [Action.PROJECT_CREATE, Action.USER_CREATE])
def test_operator_changes_inside_a_tenant_need_a_recent_mfa(
    engine: PolicyEngine, action: Action
) -> None:
    _denied_by(
        engine.decide(ask(OPERATOR, action, ACME, auth=STALE_MFA)), "baseline.operator-step-up"
    )
    _allowed_by(engine.decide(ask(OPERATOR, action, ACME)), "baseline.role.operator")
    # Listing changes nothing and needs no step-up.
    assert engine.decide(ask(OPERATOR, Action.PROJECT_LIST, ACME, auth=NO_MFA)).allowed


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        (Action.JOB_READ, job()),
        (Action.JOB_LIST, QML),
        (Action.JOB_SUBMIT, job()),
        (Action.JOB_CANCEL, job()),
        (Action.ARTIFACT_READ, artifact(ArtifactKind.RESULT)),
        (Action.ARTIFACT_READ, artifact(ArtifactKind.CIRCUIT)),
        (Action.AUDIT_READ, ACME),
        (Action.KEY_MANAGE, ACME),
        (Action.POLICY_READ, ACME),
        (Action.IDP_READ, ACME),
    ],
)
def test_operators_never_reach_tenant_data(
    engine: PolicyEngine, action: Action, resource: ResourceLike
) -> None:
    _denied_by(engine.decide(ask(OPERATOR, action, resource)), "baseline.operator-scope")
    # Break-glass is for cross-tenant elevation; it opens no tenant data to operators.
    elevated = ask(OPERATOR, action, resource, break_glass=True)
    _denied_by(engine.decide(elevated), "baseline.operator-scope")


# --- baseline.operator-only ---------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        (Action.TENANT_CREATE, ACME),
        (Action.TENANT_LIST, PLATFORM),
        (Action.WORKER_REGISTER, SIM_WORKER),
        (Action.WORKER_REVOKE, SIM_WORKER),
    ],
)
def test_tenant_admins_cannot_perform_operator_actions(
    engine: PolicyEngine, action: Action, resource: ResourceLike
) -> None:
    _denied_by(engine.decide(ask(ADMIN, action, resource)), "baseline.operator-only")


# --- workers ---------------------------------------------------------------------


@pytest.mark.parametrize("action", [Action.JOB_LEASE, Action.JOB_REPORT])
def test_a_worker_leases_and_reports_jobs_of_backends_it_serves(
    engine: PolicyEngine, action: Action
) -> None:
    _allowed_by(engine.decide(ask(SIM_WORKER, action, job())), "baseline.role.worker")


@pytest.mark.parametrize("action", [Action.JOB_LEASE, Action.JOB_REPORT])
def test_a_worker_cannot_touch_a_job_on_a_backend_it_does_not_serve(
    engine: PolicyEngine, action: Action
) -> None:
    request = ask(SIM_WORKER, action, job(backend=QPU))
    _denied_by(engine.decide(request), "baseline.worker-backend")
    idle = WorkerFacts("wrk-idle", frozenset())
    _denied_by(engine.decide(ask(idle, action, job())), "baseline.worker-backend")


@pytest.mark.parametrize(
    ("action", "resource"),
    [(Action.JOB_READ, job()), (Action.ARTIFACT_READ, artifact(ArtifactKind.RESULT))],
)
def test_a_worker_cannot_ask_for_anything_else(
    engine: PolicyEngine, action: Action, resource: ResourceLike
) -> None:
    # The schema already refuses a worker as principal of a tenant action.
    decision = engine.decide(ask(SIM_WORKER, action, resource))
    assert not decision.allowed
    assert decision.policy_ids == (INVALID_REQUEST,)


def test_no_one_but_a_worker_may_lease(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(ADMIN, Action.JOB_LEASE, job()))
    assert decision.policy_ids == (INVALID_REQUEST,)


def test_the_worker_scope_holds_even_if_the_schema_let_workers_ask_for_more() -> None:
    schema = shipped_text("schema.cedarschema").replace(
        'action "job.read"\n    appliesTo { principal: [User, ServicePrincipal, Operator]',
        'action "job.read"\n    appliesTo { principal: [User, ServicePrincipal, Operator, Worker]',
    )
    assert schema != shipped_text("schema.cedarschema")
    widened = PolicyEngine(schema=schema)
    _denied_by(widened.decide(ask(SIM_WORKER, Action.JOB_READ, job())), "baseline.worker-scope")


# --- baseline.project-membership ------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "grant"),
    [
        (MEMBER, "baseline.role.member"),
        (VIEWER, "baseline.role.viewer"),
        (CI_BOT, "baseline.role.member"),
    ],
)
def test_members_viewers_and_services_act_only_in_their_projects(
    engine: PolicyEngine, principal: PrincipalFacts, grant: str
) -> None:
    _allowed_by(engine.decide(ask(principal, Action.JOB_READ, job())), grant)
    outside = ask(principal, Action.JOB_READ, job(project=CHEMISTRY))
    _denied_by(engine.decide(outside), "baseline.project-membership")


def test_a_member_outside_the_project_cannot_list_or_submit(engine: PolicyEngine) -> None:
    _denied_by(
        engine.decide(ask(MEMBER, Action.JOB_LIST, CHEMISTRY)), "baseline.project-membership"
    )
    submit = ask(MEMBER, Action.JOB_SUBMIT, job(project=CHEMISTRY))
    _denied_by(engine.decide(submit), "baseline.project-membership")
    artifact_elsewhere = artifact(ArtifactKind.RESULT, job(project=CHEMISTRY))
    _denied_by(
        engine.decide(ask(MEMBER, Action.ARTIFACT_READ, artifact_elsewhere)),
        "baseline.project-membership",
    )


def test_a_tenant_admin_acts_in_every_project_of_the_tenant(engine: PolicyEngine) -> None:
    _allowed_by(
        engine.decide(ask(ADMIN, Action.JOB_READ, job(project=CHEMISTRY))),
        "baseline.role.tenant-admin",
    )
    _allowed_by(engine.decide(ask(ADMIN, Action.JOB_LIST, QML)), "baseline.role.tenant-admin")


# --- role grants: the documented role table --------------------------------------------

_ADMIN = frozenset({Role.TENANT_ADMIN})
_AUDIT = frozenset({Role.TENANT_ADMIN, Role.AUDITOR})
_WRITERS = frozenset({Role.TENANT_ADMIN, Role.MEMBER})
_READERS = frozenset({Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER})

#: Which tenant roles the baseline lets perform each tenant-scoped action (docs/policy.md).
ROLE_TABLE: dict[Action, frozenset[Role]] = {
    Action.PROJECT_CREATE: _ADMIN,
    Action.PROJECT_LIST: _READERS,
    Action.PROJECT_MEMBERS_READ: _ADMIN,
    Action.PROJECT_MEMBERS_MANAGE: _ADMIN,
    Action.GROUP_READ: _ADMIN,
    Action.GROUP_MANAGE: _ADMIN,
    Action.USER_CREATE: _ADMIN,
    Action.USER_LIST: _ADMIN,
    Action.API_KEY_MANAGE: _ADMIN,
    Action.BACKEND_LIST: _READERS,
    Action.JOB_SUBMIT: _WRITERS,
    Action.JOB_READ: _READERS,
    Action.JOB_LIST: _READERS,
    Action.JOB_CANCEL: _WRITERS,
    Action.ARTIFACT_READ: _READERS,
    Action.AUDIT_READ: _AUDIT,
    Action.TRUST_POLICY_READ: _ADMIN,
    Action.TRUST_POLICY_MANAGE: _ADMIN,
    Action.IDP_READ: _ADMIN,
    Action.IDP_MANAGE: _ADMIN,
    Action.POLICY_READ: _ADMIN,
    Action.POLICY_PUSH: _ADMIN,
    Action.POLICY_APPROVE: _ADMIN,
    Action.POLICY_ACTIVATE: _ADMIN,
    Action.KEY_MANAGE: _ADMIN,
}


def _resource_for(action: Action) -> ResourceLike:
    if action in (Action.JOB_SUBMIT, Action.JOB_READ, Action.JOB_CANCEL):
        return job()
    if action is Action.ARTIFACT_READ:
        return artifact(ArtifactKind.RESULT)
    if action in (Action.JOB_LIST, Action.PROJECT_MEMBERS_READ, Action.PROJECT_MEMBERS_MANAGE):
        return QML
    if action is Action.BACKEND_LIST:
        return PLATFORM
    return ACME


@pytest.mark.parametrize("action", list(ROLE_TABLE))
@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER, Role.AUDITOR])
def test_role_grants_match_the_role_table(engine: PolicyEngine, action: Action, role: Role) -> None:
    request: AccessRequest = ask(
        person("pat", role.value), action, _resource_for(action), auth=FRESH_MFA
    )
    assert engine.decide(request).allowed == (role in ROLE_TABLE[action])


@pytest.mark.parametrize(
    "action",
    [
        Action.PROJECT_MEMBERS_MANAGE,
        Action.POLICY_READ,
        Action.POLICY_EXPLAIN,
        Action.POLICY_PUSH,
        Action.KEY_MANAGE,
    ],
)
def test_new_administrative_actions_belong_to_tenant_admins(
    engine: PolicyEngine, action: Action
) -> None:
    resource = QML if action is Action.PROJECT_MEMBERS_MANAGE else ACME
    _allowed_by(engine.decide(ask(ADMIN, action, resource)), "baseline.role.tenant-admin")
    for other in (MEMBER, VIEWER):
        assert engine.decide(ask(other, action, resource)).policy_ids == (DEFAULT_DENY,)


def test_a_viewer_cannot_submit_or_cancel(engine: PolicyEngine) -> None:
    for action in (Action.JOB_SUBMIT, Action.JOB_CANCEL):
        assert engine.decide(ask(VIEWER, action, job())).policy_ids == (DEFAULT_DENY,)


def test_a_principal_without_roles_is_denied_by_default(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(NOBODY, Action.JOB_READ, job()))
    assert decision == Decision(allowed=False, policy_ids=(DEFAULT_DENY,))


def test_globex_keeps_to_its_own_project(engine: PolicyEngine) -> None:
    own = job(project=GLOBEX_RND, backend=SIMULATOR)
    _allowed_by(engine.decide(ask(GLOBEX_MEMBER, Action.JOB_READ, own)), "baseline.role.member")


# --- baseline.credential-project --------------------------------------------------------


def test_a_project_confined_credential_reaches_no_other_project(engine: PolicyEngine) -> None:
    key = AuthFacts(mfa=False, auth_age_s=0, credential_project=QML.id)
    _allowed_by(
        engine.decide(ask(ADMIN, Action.JOB_READ, job(), auth=key)), "baseline.role.tenant-admin"
    )
    elsewhere = ask(ADMIN, Action.JOB_READ, job(project=CHEMISTRY), auth=key)
    _denied_by(engine.decide(elsewhere), "baseline.credential-project")
    listing = ask(ADMIN, Action.JOB_LIST, CHEMISTRY, auth=key)
    _denied_by(engine.decide(listing), "baseline.credential-project")
    # Tenant-level administration is not a project object: the role decides it.
    assert engine.decide(ask(ADMIN, Action.USER_LIST, ACME, auth=key)).allowed
