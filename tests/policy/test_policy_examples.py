"""Every shipped example policy passes its own cases with the real baseline.

Each example is a directory under ``examples/policies/`` with ``*.cedar``
files and a ``cases.yaml``. The cases must include allows and denies, and
at least one case must fail without the example's policies: an example
whose cases pass on the baseline alone would prove nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qplane.policy.case_runner import run_policy_tests
from qplane.policy.cases import load_case_file
from qplane.policy.engine import PolicyEngine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
DIRECTORIES = sorted(path for path in EXAMPLES.iterdir() if path.is_dir())


def _policy_text(directory: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(directory.glob("*.cedar")))


def test_the_five_blueprint_examples_ship() -> None:
    assert {d.name for d in DIRECTORIES} >= {
        "researchers-simulator-only",
        "consultants-results-only",
        "qpu-business-hours",
        "confidential-eu-only",
        "large-jobs-need-approver",
    }


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda d: d.name)
def test_an_example_passes_its_cases(engine: PolicyEngine, directory: Path) -> None:
    cases = load_case_file(directory / "cases.yaml")
    policies = engine.validate_tenant_policies(
        cases.tenant.id, _policy_text(directory), cases.known_entities
    )
    report = run_policy_tests(engine, policies, cases.cases)
    assert report.passed, report.summary()
    assert {case.expect_allow for case in cases.cases} == {True, False}


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda d: d.name)
def test_an_example_policy_is_what_its_cases_depend_on(
    engine: PolicyEngine, directory: Path
) -> None:
    cases = load_case_file(directory / "cases.yaml")
    report = run_policy_tests(engine, None, cases.cases)
    assert report.failures, "every case passes on the baseline alone"
