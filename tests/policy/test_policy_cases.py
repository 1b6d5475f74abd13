"""Policy test cases: the file format, its strictness, and the runner's report."""

from __future__ import annotations

import json
import textwrap

import pytest

from qplane.policy.case_runner import run_policy_tests
from qplane.policy.cases import load_cases
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import EntityRef, EntityType
from qplane.policy.errors import InvalidPolicyCase

HEADER = """\
tenant: {id: acme, timezone: Europe/Berlin, region: eu-central}
backends:
  sim: {kind: simulator, region: eu-central, max_qubits: 32}
groups:
  acme-approvers: {}
  acme-leads: {parents: [acme-approvers]}
"""

CASES = (
    HEADER
    + """\
cases:
  - name: a member reads a job
    principal: {type: User, id: mia, roles: [member], projects: [qml]}
    action: job.read
    resource: {type: Job, id: job-1, project: qml, backend: sim}
    expect: allow
    policies: [baseline.role.member]
  - name: a lead submits a large job
    principal: {type: User, id: lea, roles: [member], projects: [qml], groups: [acme-leads]}
    action: job.submit
    resource: {type: Job, id: job-2, project: qml, backend: sim, qubits: 31}
    expect: allow
  - name: another tenant's admin cannot read it
    principal: {type: User, id: gil, tenant: globex, roles: [tenant_admin]}
    action: job.read
    resource: {type: Job, id: job-1, project: qml, backend: sim}
    expect: deny
    policies: [baseline.cross-tenant]
"""
)

POLICY = (
    '@id("large-jobs-need-approver")\n'
    'forbid (principal, action == Qplane::Action::"job.submit", resource)\n'
    'when { resource.qubits > 30 } unless { principal in Qplane::Group::"acme-approvers" };\n'
)


def _case_file(case: str) -> str:
    return HEADER + "cases:\n" + textwrap.indent(textwrap.dedent(case), "  ")


def test_a_case_file_runs_through_the_engine(engine: PolicyEngine) -> None:
    cases = load_cases(CASES)
    policies = engine.validate_tenant_policies("acme", POLICY, cases.known_entities)
    report = run_policy_tests(engine, policies, cases.cases)
    assert report.passed, report.summary()
    assert report.summary() == "3/3 cases passed"


def test_the_file_names_what_its_tenant_owns() -> None:
    known = load_cases(CASES).known_entities
    assert EntityRef(EntityType.GROUP, "acme-leads") in known
    assert EntityRef(EntityType.PROJECT, "qml") in known
    assert EntityRef(EntityType.USER, "mia") in known
    assert EntityRef(EntityType.USER, "gil") not in known  # globex's


def test_a_failing_case_is_reported_by_name_with_the_decision(engine: PolicyEngine) -> None:
    wrong = CASES.replace("expect: allow\n    policies: [baseline.role.member]", "expect: deny", 1)
    report = run_policy_tests(engine, None, load_cases(wrong).cases)
    assert not report.passed
    assert [f.name for f in report.failures] == ["a member reads a job"]
    assert "FAIL a member reads a job: expected deny, got allow by baseline.role.member" in (
        report.summary()
    )


def test_expected_policy_ids_must_be_among_the_determining_ones(engine: PolicyEngine) -> None:
    wrong = CASES.replace(
        "policies: [baseline.role.member]", "policies: [large-jobs-need-approver]"
    )
    report = run_policy_tests(engine, None, load_cases(wrong).cases)
    (failure,) = report.failures
    assert "tenant:acme:large-jobs-need-approver" in failure.problems[0]


def test_cases_without_the_tenant_policy_show_it_matters(engine: PolicyEngine) -> None:
    cases = load_cases(
        CASES.replace(
            "id: lea, roles: [member], projects: [qml], groups: [acme-leads]",
            "id: lea, roles: [member], projects: [qml]",
        )
    )
    policies = engine.validate_tenant_policies("acme", POLICY, cases.known_entities)
    report = run_policy_tests(engine, policies, cases.cases)
    assert [f.name for f in report.failures] == ["a lead submits a large job"]


def test_json_case_files_work_too(engine: PolicyEngine) -> None:
    document = {
        "tenant": {"id": "acme"},
        "cases": [
            {
                "name": "an operator lists tenants",
                "principal": {"type": "Operator", "id": "olga"},
                "action": "tenant.list",
                "resource": {"type": "Platform"},
                "expect": "allow",
            }
        ],
    }
    assert run_policy_tests(engine, None, load_cases(json.dumps(document)).cases).passed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            """\
            - name: typo
              principal: {type: User, id: mia}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              expcet: deny
            """,
            "case 'typo': case: unknown field(s): expcet",
        ),
        (
            """\
            - name: bad action
              principal: {type: User, id: mia}
              action: job.delete
              resource: {type: Tenant}
              expect: deny
            """,
            "case 'bad action': case: unknown action 'job.delete'",
        ),
        (
            """\
            - name: missing backend
              principal: {type: User, id: mia}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: ibm}
              expect: deny
            """,
            "case 'missing backend': case.resource: backend 'ibm' is not declared",
        ),
        (
            """\
            - name: maybe
              principal: {type: User, id: mia}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              expect: perhaps
            """,
            "case 'maybe': case: 'expect' must be allow or deny",
        ),
        (
            """\
            - name: naive clock
              principal: {type: User, id: mia}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              context: {at: 2025-03-05 15:00:00}
              expect: deny
            """,
            "case 'naive clock': case.context: 'at' must be a date and time with an offset",
        ),
        (
            """\
            - name: bad address
              principal: {type: User, id: mia}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              context: {source_ip: 999.1.1.1}
              expect: deny
            """,
            "case 'bad address'",
        ),
        (
            """\
            - name: strange principal
              principal: {type: Robot, id: r2}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              expect: deny
            """,
            "case 'strange principal': case.principal: 'type' must be User",
        ),
        (
            """\
            - name: roles as text
              principal: {type: User, id: mia, roles: member}
              action: job.read
              resource: {type: Job, id: j, project: qml, backend: sim}
              expect: deny
            """,
            "case 'roles as text': case.principal: 'roles' must be a list of strings",
        ),
        (
            """\
            - principal: {type: User, id: mia}
              action: job.read
              resource: {type: Platform}
              expect: deny
            """,
            "case '#1': case: 'name' must be a non-empty string",
        ),
    ],
)
def test_a_bad_case_is_refused_naming_it(case: str, message: str) -> None:
    with pytest.raises(InvalidPolicyCase) as raised:
        load_cases(_case_file(case))
    assert message in raised.value.detail
    assert raised.value.case is not None


def test_two_cases_with_one_name_are_refused() -> None:
    case = """\
    - name: twice
      principal: {type: Operator, id: olga}
      action: tenant.list
      resource: {type: Platform}
      expect: allow
    """
    with pytest.raises(InvalidPolicyCase, match="'twice': another case has the same name"):
        load_cases(_case_file(textwrap.dedent(case) * 2))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases: [\n", "not YAML or JSON"),
        ("- just a list\n", "file must be a mapping"),
        (HEADER, "'cases' must be a non-empty list"),
        (HEADER.replace("Europe/Berlin", "Europe/Atlantis") + "cases: [{}]\n", "IANA"),
        (
            HEADER + "colour: blue\ncases:\n" + CASES.split("cases:\n")[1],
            "unknown field(s): colour",
        ),
    ],
)
def test_a_bad_file_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidPolicyCase, match="cases file") as raised:
        load_cases(text)
    assert message in raised.value.detail
