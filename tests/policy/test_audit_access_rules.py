"""Who may read which audit log: tenant admins and auditors their tenant's, operators the
platform's, and a tenant's only under a break-glass elevation granted after a step-up."""

from __future__ import annotations

import pytest

from qplane.policy.actions import Action
from qplane.policy.decision import DEFAULT_DENY, Decision
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import PLATFORM, ArtifactKind, PrincipalFacts
from qplane.policy.request import ResourceLike
from tests.policy.world import (
    ACME,
    ADMIN,
    GLOBEX,
    MEMBER,
    NO_MFA,
    OPERATOR,
    QML,
    STALE_MFA,
    VIEWER,
    artifact,
    ask,
    job,
    person,
)

AUDITOR = person("aud", "auditor", projects=(QML,))
GLOBEX_AUDITOR = person("gia", "auditor", tenant=GLOBEX, projects=())


def _allowed_by(decision: Decision, policy_id: str) -> None:
    assert decision.allowed, decision
    assert policy_id in decision.policy_ids, decision


def _denied_by(decision: Decision, policy_id: str) -> None:
    assert not decision.allowed, decision
    assert policy_id in decision.policy_ids, decision


# --- the auditor role ---------------------------------------------------------------


def test_an_auditor_reads_the_audit_log_of_its_tenant(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(AUDITOR, Action.AUDIT_READ, ACME, auth=NO_MFA))
    _allowed_by(decision, "baseline.role.auditor")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        (Action.JOB_READ, job()),
        (Action.JOB_LIST, QML),
        (Action.JOB_SUBMIT, job()),
        (Action.ARTIFACT_READ, artifact(ArtifactKind.RESULT)),
        (Action.ARTIFACT_READ, artifact(ArtifactKind.CIRCUIT)),
        (Action.PROJECT_LIST, ACME),
        (Action.USER_LIST, ACME),
        (Action.POLICY_READ, ACME),
        (Action.KEY_READ, ACME),
        (Action.IDP_READ, ACME),
    ],
)
def test_an_auditor_reads_nothing_but_the_audit_log(
    engine: PolicyEngine, action: Action, resource: ResourceLike
) -> None:
    # Even inside a project it belongs to: the role grants the audit log only.
    assert engine.decide(ask(AUDITOR, action, resource)).policy_ids == (DEFAULT_DENY,)


def test_an_auditor_of_another_tenant_reads_no_audit_log_but_its_own(engine: PolicyEngine) -> None:
    _denied_by(engine.decide(ask(GLOBEX_AUDITOR, Action.AUDIT_READ, ACME)), "baseline.cross-tenant")


@pytest.mark.parametrize("reader", [MEMBER, VIEWER], ids=["member", "viewer"])
def test_members_and_viewers_do_not_read_the_audit_log(
    engine: PolicyEngine, reader: PrincipalFacts
) -> None:
    assert engine.decide(ask(reader, Action.AUDIT_READ, ACME)).policy_ids == (DEFAULT_DENY,)


# --- operators: the platform log ------------------------------------------------------


def test_an_operator_reads_the_platform_log_without_a_step_up(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(OPERATOR, Action.AUDIT_READ_PLATFORM, PLATFORM, auth=NO_MFA))
    _allowed_by(decision, "baseline.role.operator")


@pytest.mark.parametrize("reader", [ADMIN, AUDITOR], ids=["tenant-admin", "auditor"])
def test_tenant_principals_never_read_the_platform_log(
    engine: PolicyEngine, reader: PrincipalFacts
) -> None:
    decision = engine.decide(ask(reader, Action.AUDIT_READ_PLATFORM, PLATFORM))
    _denied_by(decision, "baseline.operator-only")


# --- operators: a tenant's log, under break-glass only ----------------------------------------


def test_an_operator_reads_a_tenants_log_only_under_break_glass(engine: PolicyEngine) -> None:
    without = engine.decide(ask(OPERATOR, Action.AUDIT_READ_ELEVATED, ACME))
    _denied_by(without, "baseline.break-glass-only")
    elevated = engine.decide(ask(OPERATOR, Action.AUDIT_READ_ELEVATED, ACME, break_glass=True))
    _allowed_by(elevated, "baseline.role.operator")


def test_break_glass_opens_the_elevated_read_and_nothing_else(engine: PolicyEngine) -> None:
    # The ordinary tenant read stays closed to operators, elevated or not.
    plain = ask(OPERATOR, Action.AUDIT_READ, ACME, break_glass=True)
    _denied_by(engine.decide(plain), "baseline.operator-scope")
    _denied_by(
        engine.decide(ask(OPERATOR, Action.JOB_READ, job(), break_glass=True)),
        "baseline.operator-scope",
    )


@pytest.mark.parametrize("reader", [ADMIN, AUDITOR], ids=["tenant-admin", "auditor"])
def test_tenant_principals_never_read_elevated_nor_grant_break_glass(
    engine: PolicyEngine, reader: PrincipalFacts
) -> None:
    for action in (Action.AUDIT_READ_ELEVATED, Action.BREAK_GLASS_GRANT):
        decision = engine.decide(ask(reader, action, ACME, break_glass=True))
        _denied_by(decision, "baseline.operator-only")


def test_granting_break_glass_needs_a_recent_second_factor(engine: PolicyEngine) -> None:
    _allowed_by(
        engine.decide(ask(OPERATOR, Action.BREAK_GLASS_GRANT, ACME)), "baseline.role.operator"
    )
    for auth in (NO_MFA, STALE_MFA):
        stale = engine.decide(ask(OPERATOR, Action.BREAK_GLASS_GRANT, ACME, auth=auth))
        _denied_by(stale, "baseline.privileged-step-up")
