"""Tenant policies: what validation refuses, and why they cannot break the baseline."""

from __future__ import annotations

import pytest

from qplane.domain.errors import ValidationFailed
from qplane.policy.actions import Action
from qplane.policy.decision import FOREIGN_TENANT_POLICIES, INVALID_REQUEST
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import EntityRef, EntityType
from qplane.policy.request import PrincipalLike, ResourceLike
from qplane.policy.tenant_policies import (
    MAX_POLICY_TEXT,
    TenantPolicySet,
    validate_tenant_policies,
)
from tests.policy.world import (
    ACME,
    ADMIN,
    APPROVERS,
    GLOBEX,
    GLOBEX_ADMIN,
    GLOBEX_RND,
    MEMBER,
    NO_MFA,
    OPERATOR,
    QML,
    QPU,
    SIM_WORKER,
    VIEWER,
    ask,
    job,
    person,
)

ACME_OWNS = frozenset(
    {
        EntityRef(EntityType.PROJECT, QML.id),
        EntityRef(EntityType.GROUP, APPROVERS.id),
        EntityRef(EntityType.USER, MEMBER.id),
    }
)
PERMIT_ALL = '@id("permit-everything")\npermit (principal, action, resource);\n'


def _acme(engine: PolicyEngine, text: str) -> TenantPolicySet:
    return engine.validate_tenant_policies(ACME.id, text, ACME_OWNS)


def _refusal(engine: PolicyEngine, text: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as raised:
        _acme(engine, text)
    return raised.value


# --- what validation refuses ---------------------------------------------------------


def test_text_that_does_not_parse_is_refused_with_its_line(engine: PolicyEngine) -> None:
    text = PERMIT_ALL + '\n@id("broken")\nforbid (principal, action, resource)\nwhen { 1 + };\n'
    error = _refusal(engine, text)
    assert "line 4" in error.detail
    assert error.extensions["line"] == 4


def test_a_policy_that_does_not_fit_the_schema_is_refused_naming_it(engine: PolicyEngine) -> None:
    text = PERMIT_ALL + (
        '\n@id("uses-a-typo")\n'
        'forbid (principal, action == Qplane::Action::"job.submit", resource)\n'
        "when { resource.qbits > 30 };\n"
    )
    error = _refusal(engine, text)
    assert "'uses-a-typo' (line 4)" in error.detail
    assert "qbits" in error.detail


def test_an_unknown_action_is_refused(engine: PolicyEngine) -> None:
    text = '@id("x")\nforbid (principal, action == Qplane::Action::"job.delete", resource);'
    assert "job.delete" in _refusal(engine, text).detail


def test_optional_context_must_be_tested_with_has(engine: PolicyEngine) -> None:
    unguarded = (
        '@id("eu-callers")\nforbid (principal, action, resource)\nwhen { context.region != "eu" };'
    )
    assert "'eu-callers'" in _refusal(engine, unguarded).detail
    guarded = unguarded.replace("context.region", "context has region && context.region")
    assert _acme(engine, guarded).policies[0].local_id == "eu-callers"


@pytest.mark.parametrize("reused", ["baseline.cross-tenant", "baseline.role.member"])
def test_a_policy_reusing_a_baseline_id_is_refused(engine: PolicyEngine, reused: str) -> None:
    error = _refusal(engine, f'@id("{reused}")\npermit (principal, action, resource);')
    assert "reserved for the platform baseline" in error.detail
    assert reused in error.detail


def test_the_baseline_prefix_is_reserved_even_for_new_ids(engine: PolicyEngine) -> None:
    error = _refusal(engine, '@id("baseline.extra")\npermit (principal, action, resource);')
    assert "reserved" in error.detail


@pytest.mark.parametrize(
    "text",
    [
        "permit (principal, action, resource);",
        '@id("tenant:globex:x")\npermit (principal, action, resource);',
        '@id("Upper Case")\npermit (principal, action, resource);',
    ],
)
def test_every_policy_needs_a_plain_id_of_its_own(engine: PolicyEngine, text: str) -> None:
    _refusal(engine, text)


def test_a_repeated_id_is_refused(engine: PolicyEngine) -> None:
    assert "repeats" in _refusal(engine, PERMIT_ALL + PERMIT_ALL).detail


def test_templates_are_refused(engine: PolicyEngine) -> None:
    text = '@id("t")\npermit (principal == ?principal, action, resource);'
    assert "templates" in _refusal(engine, text).detail


def test_oversized_text_is_refused(engine: PolicyEngine) -> None:
    text = PERMIT_ALL + "//" + "x" * MAX_POLICY_TEXT
    assert "limited" in _refusal(engine, text).detail


# --- entity ownership ----------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        'resource has tenant && resource.tenant == Qplane::Tenant::"globex"',
        'principal in Qplane::Project::"globex-rnd"',
        'principal in Qplane::Group::"globex-approvers"',
        'principal == Qplane::User::"gus"',
        'principal == Qplane::Operator::"olga"',
        'resource in [Qplane::Project::"acme-qml", Qplane::Project::"globex-rnd"]',
    ],
)
def test_a_policy_naming_another_tenants_entity_is_refused(
    engine: PolicyEngine, reference: str
) -> None:
    text = f'@id("peek")\npermit (principal, action, resource)\nwhen {{ {reference} }};'
    error = _refusal(engine, text)
    assert "not an entity of this tenant" in error.detail
    assert "'peek' (line 1)" in error.detail


def test_another_tenant_in_the_scope_is_refused(engine: PolicyEngine) -> None:
    text = '@id("peek")\npermit (principal, action, resource in Qplane::Tenant::"globex");'
    assert 'Qplane::Tenant::"globex"' in _refusal(engine, text).detail


def test_the_tenants_own_entities_and_shared_backends_may_be_named(engine: PolicyEngine) -> None:
    text = (
        '@id("own")\n'
        'forbid (principal, action, resource in Qplane::Tenant::"acme")\n'
        'when { resource has backend && resource.backend == Qplane::Backend::"ibm-eagle" }\n'
        'unless { principal in Qplane::Group::"acme-approvers" || '
        'principal == Qplane::User::"mia" };'
    )
    assert [p.id for p in _acme(engine, text).policies] == ["tenant:acme:own"]


def test_ownership_may_be_answered_by_a_callable() -> None:
    asked: list[EntityRef] = []

    def owns(ref: EntityRef) -> bool:
        asked.append(ref)
        return ref.id.startswith("acme-")

    ok = '@id("g")\nforbid (principal in Qplane::Group::"acme-contractors", action, resource);'
    validate_tenant_policies(ACME.id, ok, owns)
    assert asked == [EntityRef(EntityType.GROUP, "acme-contractors")]
    with pytest.raises(ValidationFailed, match="not an entity of this tenant"):
        validate_tenant_policies(ACME.id, ok.replace("acme-", "globex-"), owns)


# --- tenant policies cannot lift the baseline ------------------------------------------


def test_tenant_policy_ids_are_namespaced(engine: PolicyEngine) -> None:
    policies = _acme(engine, PERMIT_ALL)
    request = ask(person("nora"), Action.JOB_READ, job())
    decision = engine.decide(request, policies)
    assert decision.allowed
    assert decision.policy_ids == ("tenant:acme:permit-everything",)


def test_a_tenant_permit_cannot_open_the_tenant_to_other_tenants(engine: PolicyEngine) -> None:
    globex_policies = engine.validate_tenant_policies(GLOBEX.id, PERMIT_ALL, frozenset())
    # globex's own policies govern a request for globex's job...
    request = ask(MEMBER, Action.JOB_READ, job(project=GLOBEX_RND))
    decision = engine.decide(request, globex_policies)
    assert not decision.allowed
    assert "baseline.cross-tenant" in decision.policy_ids


def test_a_tenant_permit_naming_the_other_side_is_refused_and_foreign_sets_do_not_apply(
    engine: PolicyEngine,
) -> None:
    with pytest.raises(ValidationFailed):
        _acme(
            engine,
            '@id("share")\npermit (principal, action, resource)\n'
            'when { resource has tenant && resource.tenant == Qplane::Tenant::"globex" };',
        )
    acme_policies = _acme(engine, PERMIT_ALL)
    request = ask(GLOBEX_ADMIN, Action.JOB_READ, job())  # acme's job, so acme governs
    assert "baseline.cross-tenant" in engine.decide(request, acme_policies).policy_ids
    theirs = ask(GLOBEX_ADMIN, Action.AUDIT_READ, GLOBEX)
    assert engine.decide(theirs, acme_policies).policy_ids == (FOREIGN_TENANT_POLICIES,)


@pytest.mark.parametrize(
    ("principal", "action", "resource", "guard"),
    [
        (OPERATOR, Action.JOB_READ, job(), "baseline.operator-scope"),
        (OPERATOR, Action.AUDIT_READ, ACME, "baseline.operator-scope"),
        (ADMIN, Action.TENANT_CREATE, GLOBEX, "baseline.operator-only"),
        (SIM_WORKER, Action.JOB_LEASE, job(backend=QPU), "baseline.worker-backend"),
        (VIEWER, Action.JOB_READ, job(project=GLOBEX_RND), "baseline.cross-tenant"),
    ],
)
def test_a_permit_everything_policy_leaves_every_guard_rail_standing(
    engine: PolicyEngine,
    principal: PrincipalLike,
    action: Action,
    resource: ResourceLike,
    guard: str,
) -> None:
    policies = _acme(engine, PERMIT_ALL)
    request = ask(principal, action, resource)
    if request.governing_tenant != ACME.id:
        policies = engine.validate_tenant_policies(GLOBEX.id, PERMIT_ALL, frozenset())
    decision = engine.decide(request, policies)
    assert not decision.allowed
    assert guard in decision.policy_ids


def test_a_tenant_permit_cannot_skip_step_up(engine: PolicyEngine) -> None:
    policies = _acme(engine, PERMIT_ALL)
    without_mfa = engine.decide(ask(VIEWER, Action.KEY_MANAGE, ACME, auth=NO_MFA), policies)
    assert without_mfa.policy_ids == ("baseline.privileged-step-up",)
    # With MFA the tenant may choose to let viewers manage keys: its own call.
    assert engine.decide(ask(VIEWER, Action.KEY_MANAGE, ACME), policies).allowed


def test_a_tenant_forbid_overrides_a_baseline_permit(engine: PolicyEngine) -> None:
    policies = _acme(
        engine,
        '@id("no-reads-for-mia")\n'
        'forbid (principal == Qplane::User::"mia", action == Qplane::Action::"job.read",'
        " resource);",
    )
    assert engine.decide(ask(MEMBER, Action.JOB_READ, job())).allowed
    decision = engine.decide(ask(MEMBER, Action.JOB_READ, job()), policies)
    assert not decision.allowed
    assert decision.policy_ids == ("tenant:acme:no-reads-for-mia",)


def test_a_hand_built_set_cannot_replace_a_baseline_policy(engine: PolicyEngine) -> None:
    genuine = _acme(engine, PERMIT_ALL)
    forged = TenantPolicySet(
        tenant_id=ACME.id,
        text=genuine.text,
        digest="forged",
        policies=genuine.policies,
        est={"baseline.cross-tenant": genuine.est["tenant:acme:permit-everything"]},
    )
    decision = engine.decide(ask(MEMBER, Action.JOB_READ, job()), forged)
    assert decision.policy_ids == (INVALID_REQUEST,)


def test_stored_text_is_reloaded_with_the_same_checks_but_ownership(engine: PolicyEngine) -> None:
    loaded = engine.load_tenant_policies(ACME.id, PERMIT_ALL)
    assert loaded == _acme(engine, PERMIT_ALL)
    with pytest.raises(ValidationFailed, match="reserved"):
        engine.load_tenant_policies(ACME.id, PERMIT_ALL.replace("permit-everything", "baseline.x"))


def test_lines_are_counted_past_semicolons_in_strings_and_comments(engine: PolicyEngine) -> None:
    text = (
        "// a comment; with a semicolon\n"
        '@id("quoted")\n'
        "forbid (principal, action, resource)\n"
        'when { context has region && context.region == "a;b\\"" };\n'
        "\n"
        '@id("second")\n'
        "forbid (principal, action, resource) when { context.nope };\n"
    )
    error = _refusal(engine, text)
    assert "'second' (line 6)" in error.detail
    policies = _acme(engine, text.split("\n\n")[0])
    assert policies.policies[0].line == 2
    assert policies.policies[0].text.startswith("// a comment; with a semicolon\n@id")
