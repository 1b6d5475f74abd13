"""Runs policy test cases through the engine and reports each outcome.

The server runs a pushed policy version's cases before it may be
activated, and the CLI runs the same cases locally; both read this report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qplane.policy.cases import PolicyCase
from qplane.policy.decision import Decision
from qplane.policy.engine import PolicyEngine
from qplane.policy.tenant_policies import TenantPolicySet


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    expect_allow: bool
    decision: Decision
    #: Why the case failed, for a person to read; empty when it passed.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyTestReport:
    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    def summary(self) -> str:
        lines = [f"{len(self.results) - len(self.failures)}/{len(self.results)} cases passed"]
        for failure in self.failures:
            lines.extend(f"FAIL {failure.name}: {problem}" for problem in failure.problems)
        return "\n".join(lines)


def run_policy_tests(
    engine: PolicyEngine,
    tenant_policy_set: TenantPolicySet | None,
    cases: Iterable[PolicyCase],
) -> PolicyTestReport:
    """Decide every case with the baseline and *tenant_policy_set*; never stop at a failure."""
    return PolicyTestReport(tuple(_run(engine, tenant_policy_set, case) for case in cases))


def _run(engine: PolicyEngine, policies: TenantPolicySet | None, case: PolicyCase) -> CaseResult:
    decision = engine.decide(case.request, policies)
    problems: list[str] = []
    if decision.allowed != case.expect_allow:
        expected, actual = _word(case.expect_allow), _word(decision.allowed)
        problems.append(
            f"expected {expected}, got {actual} by {', '.join(decision.policy_ids) or 'nothing'}"
            + (f" (errors: {'; '.join(decision.errors)})" if decision.errors else "")
        )
    missing = [p for p in case.expect_policy_ids or () if p not in decision.policy_ids]
    if missing:
        problems.append(
            f"expected {', '.join(missing)} among the determining policies, "
            f"got {', '.join(decision.policy_ids)}"
        )
    return CaseResult(case.name, not problems, case.expect_allow, decision, tuple(problems))


def _word(allowed: bool) -> str:
    return "allow" if allowed else "deny"
