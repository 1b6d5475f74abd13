"""The engine: deterministic, thread-safe, fail-closed decisions with explanations."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.decision import (
    DEFAULT_DENY,
    EVALUATION_ERROR,
    FOREIGN_TENANT_POLICIES,
    INVALID_REQUEST,
    Decision,
)
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import EntityType
from qplane.policy.facts import PLATFORM, ArtifactKind
from qplane.policy.request import AccessRequest
from qplane.policy.tenant_policies import TenantPolicySet
from tests.policy.world import (
    ACME,
    ADMIN,
    APPROVERS,
    CHEMISTRY,
    GLOBEX,
    GLOBEX_ADMIN,
    MEMBER,
    NO_MFA,
    OPERATOR,
    QPU,
    SIM_WORKER,
    VIEWER,
    artifact,
    ask,
    job,
    person,
)

LARGE_JOBS = (
    "// Large jobs need an approver.\n"
    '@id("large-jobs-need-approver")\n'
    'forbid (principal, action == Qplane::Action::"job.submit", resource)\n'
    "when { resource.qubits > 30 }\n"
    'unless { principal in Qplane::Group::"acme-approvers" };\n'
)


def _acme(engine: PolicyEngine, text: str) -> TenantPolicySet:
    return engine.load_tenant_policies(ACME.id, text)


def _mixed_requests() -> list[AccessRequest]:
    approver = person("abe", "member", groups=(APPROVERS,))
    return [
        ask(MEMBER, Action.JOB_SUBMIT, job(qubits=40)),
        ask(approver, Action.JOB_SUBMIT, job(qubits=40)),
        ask(MEMBER, Action.JOB_READ, job(project=CHEMISTRY)),
        ask(GLOBEX_ADMIN, Action.JOB_READ, job()),
        ask(ADMIN, Action.KEY_MANAGE, ACME, auth=NO_MFA),
        ask(VIEWER, Action.ARTIFACT_READ, artifact(ArtifactKind.RESULT)),
        ask(SIM_WORKER, Action.JOB_LEASE, job(backend=QPU)),
        ask(OPERATOR, Action.AUDIT_READ, ACME),
    ]


def test_decisions_are_deterministic(engine: PolicyEngine) -> None:
    policies = _acme(engine, LARGE_JOBS)
    requests = [r for r in _mixed_requests() if r.governing_tenant == ACME.id]
    first = [engine.decide(r, policies) for r in requests]
    again = [PolicyEngine().decide(r, _acme(engine, LARGE_JOBS)) for r in requests]
    assert first == again
    assert all(list(d.policy_ids) == sorted(d.policy_ids) for d in first)


def test_one_engine_decides_from_many_threads(engine: PolicyEngine) -> None:
    policies = _acme(engine, LARGE_JOBS)
    requests = [r for r in _mixed_requests() if r.governing_tenant == ACME.id] * 40
    expected = [engine.decide(r, policies) for r in requests]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda r: engine.decide(r, policies), requests))
    assert concurrent == expected


def test_a_small_cache_keeps_each_tenants_policies_apart() -> None:
    engine = PolicyEngine(cache_size=1)
    acme = _acme(engine, LARGE_JOBS)
    globex = engine.load_tenant_policies(
        GLOBEX.id,
        '@id("no-audit")\nforbid (principal, action == Qplane::Action::"audit.read", resource);',
    )
    for _ in range(3):
        assert not engine.decide(ask(MEMBER, Action.JOB_SUBMIT, job(qubits=40)), acme).allowed
        assert not engine.decide(ask(GLOBEX_ADMIN, Action.AUDIT_READ, GLOBEX), globex).allowed
        assert engine.decide(ask(MEMBER, Action.JOB_SUBMIT, job(qubits=40))).allowed


def test_an_explanation_quotes_the_determining_policies(engine: PolicyEngine) -> None:
    policies = _acme(engine, LARGE_JOBS)
    explanation = engine.explain(ask(MEMBER, Action.JOB_SUBMIT, job(qubits=40)), policies)
    assert explanation.decision.policy_ids == ("tenant:acme:large-jobs-need-approver",)
    (policy,) = explanation.policies
    assert policy.origin == "tenant"
    assert policy.effect == "forbid"
    assert policy.text == LARGE_JOBS.strip()

    allowed = engine.explain(ask(MEMBER, Action.JOB_READ, job()), policies)
    assert [(p.id, p.origin, p.effect) for p in allowed.policies] == [
        ("baseline.role.member", "baseline", "permit")
    ]
    assert 'principal.roles.contains("member")' in allowed.policies[0].text


def test_an_explanation_of_a_default_deny_names_no_policy(engine: PolicyEngine) -> None:
    explanation = engine.explain(ask(VIEWER, Action.JOB_SUBMIT, job()))
    assert explanation.decision.policy_ids == (DEFAULT_DENY,)
    assert explanation.policies == ()


def test_a_request_that_does_not_fit_the_schema_is_denied(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(SIM_WORKER, Action.AUDIT_READ, ACME))
    assert decision.policy_ids == (INVALID_REQUEST,)
    assert decision.errors


def test_two_versions_of_one_entity_in_a_request_are_refused(engine: PolicyEngine) -> None:
    request = ask(MEMBER, Action.JOB_READ, job())
    tampered = replace(request.principal, attrs={**request.principal.attrs, "email": "x@y"})
    decision = engine.decide(replace(request, entities=(*request.entities, tampered)))
    assert decision.policy_ids == (INVALID_REQUEST,)


def test_a_policy_that_cannot_be_evaluated_denies(engine: PolicyEngine) -> None:
    # A slice without the backend: the forbid reading resource.backend.kind errors,
    # and Cedar would otherwise let the member's permit through.
    policies = _acme(
        engine,
        '@id("no-qpu")\nforbid (principal, action, resource)\n'
        'when { resource is Qplane::Job && resource.backend.kind == "qpu" };',
    )
    request = ask(MEMBER, Action.JOB_READ, job(backend=QPU))
    without_backend = tuple(e for e in request.entities if e.uid.type is not EntityType.BACKEND)
    decision = engine.decide(replace(request, entities=without_backend), policies)
    assert decision == Decision(False, (EVALUATION_ERROR,), decision.errors)
    assert any("no-qpu" in error for error in decision.errors)


def test_policies_of_another_tenant_never_govern_a_request(engine: PolicyEngine) -> None:
    globex = engine.load_tenant_policies(
        GLOBEX.id, '@id("all")\npermit (principal, action, resource);'
    )
    decision = engine.decide(ask(MEMBER, Action.JOB_READ, job()), globex)
    assert decision.policy_ids == (FOREIGN_TENANT_POLICIES,)
    # A request no tenant governs (an operator listing tenants) takes no tenant's policies.
    platform = engine.decide(ask(OPERATOR, Action.BACKEND_LIST, PLATFORM), globex)
    assert platform.policy_ids == (FOREIGN_TENANT_POLICIES,)


@pytest.mark.parametrize(
    ("source_ip", "allowed"), [("10.1.2.3", True), ("203.0.113.9", False), (None, False)]
)
def test_source_addresses_are_cedar_ip_addresses(
    engine: PolicyEngine, source_ip: str | None, allowed: bool
) -> None:
    policies = _acme(
        engine,
        '@id("office-network-only")\nforbid (principal, action, resource)\n'
        'unless { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) };',
    )
    auth = AuthFacts(mfa=True, auth_age_s=10, source_ip=source_ip)
    decision = engine.decide(ask(MEMBER, Action.JOB_READ, job(), auth=auth), policies)
    assert decision.allowed is allowed
