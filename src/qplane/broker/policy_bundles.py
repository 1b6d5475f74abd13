"""What a tenant pushes (policies and their cases) and how the server checks it.

The server never trusts the pusher's own test run: it validates the text
against the schema, the baseline and the tenant's directory (every entity
a policy names must be the tenant's own, read from the database), then runs
the cases itself against the real baseline.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass

from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.policies import PolicyTestSummary, PolicyVersion
from qplane.domain.ports import UnitOfWork
from qplane.domain.tenancy import PrincipalKind, Tenant
from qplane.policy.case_runner import PolicyTestReport
from qplane.policy.case_suite import CaseSuite, load_case_suite, run_case_suite
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import EntityRef, EntityType
from qplane.policy.errors import InvalidPolicyCase
from qplane.policy.tenant_policies import TenantPolicySet


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """Policy text (all ``*.cedar`` files, joined) and the case files (a YAML stream)."""

    policies: str
    cases: str


@dataclass(frozen=True, slots=True)
class CheckedBundle:
    policy_set: TenantPolicySet
    report: PolicyTestReport


def check_bundle(
    engine: PolicyEngine, uow: UnitOfWork, tenant: Tenant, bundle: PolicyBundle
) -> CheckedBundle:
    """Validate *bundle* as *tenant*'s and run its cases; raise `ValidationFailed` if invalid.

    Failing cases are not an error here: they are the report's to tell.
    """
    suite = load_case_suite(bundle.cases)
    _require_cases_describe(tenant, suite)
    policy_set = engine.validate_tenant_policies(
        tenant.id, bundle.policies, known_entities(uow, tenant.id)
    )
    return CheckedBundle(policy_set, run_case_suite(engine, bundle.policies, suite))


def retest(engine: PolicyEngine, version: PolicyVersion) -> PolicyTestReport:
    """Run a stored version's cases against the baseline as it is now.

    A platform upgrade may have changed the baseline or the schema since the
    push: a version that no longer loads cannot activate (`Conflict`).
    """
    try:
        return run_case_suite(engine, version.policy_text, load_case_suite(version.cases_text))
    except ValidationFailed as error:
        raise Conflict(
            f"policy version {version.version} no longer validates: {error.detail}"
        ) from None


def known_entities(uow: UnitOfWork, tenant_id: str) -> Callable[[EntityRef], bool]:
    """Whether an entity a policy names is *tenant_id*'s own, answered by the database.

    Types that are never a tenant's own (workers, operators, artifacts)
    answer False, so a policy naming one is refused.
    """
    directory = uow.tenant_directory

    @functools.cache
    def known(ref: EntityRef) -> bool:
        match ref.type:
            case EntityType.PROJECT:
                return directory.has_project(tenant_id, ref.id)
            case EntityType.GROUP:
                return directory.has_group(tenant_id, ref.id)
            case EntityType.USER:
                return directory.has_principal(tenant_id, ref.id, PrincipalKind.USER.value)
            case EntityType.SERVICE_PRINCIPAL:
                return directory.has_principal(tenant_id, ref.id, PrincipalKind.SERVICE.value)
            case EntityType.JOB:
                return directory.has_job(tenant_id, ref.id)
            case _:
                return False

    return known


def summary_of(report: PolicyTestReport) -> PolicyTestSummary:
    return PolicyTestSummary(
        passed=report.passed,
        total=len(report.results),
        failed=len(report.failures),
        text=report.summary(),
    )


def version_diff(base: PolicyVersion | None, number: int, bundle: PolicyBundle) -> str:
    """Unified diff of policies and cases from *base* (None: no version active) to *number*."""
    old = "none" if base is None else f"v{base.version}"
    parts: list[str] = []
    for name, before, after in (
        ("policies.cedar", base.policy_text if base else "", bundle.policies),
        ("cases.yaml", base.cases_text if base else "", bundle.cases),
    ):
        lines = difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            f"{old}/{name}",
            f"v{number}/{name}",
            lineterm="",
        )
        parts.extend(lines)
    return "\n".join(parts) + ("\n" if parts else "")


def _require_cases_describe(tenant: Tenant, suite: CaseSuite) -> None:
    """Each case file stands for this tenant; a file written for another is a mistake."""
    for index, file in enumerate(suite.files, start=1):
        if file.tenant.id not in (tenant.id, tenant.name):
            raise InvalidPolicyCase(
                None,
                f"file {index} describes tenant {file.tenant.id!r}; "
                f"name this tenant ({tenant.name!r} or its id)",
            )
