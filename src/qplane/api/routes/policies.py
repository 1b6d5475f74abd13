"""A tenant's Cedar policy versions: push, test, read, approve, activate (roll back).

Everything here is for the tenant's own admins; pushing, approving,
activating and the approval setting also need a recent MFA. No route
changes a version's text: a change is always a new version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import Strict
from qplane.broker.policy_bundles import PolicyBundle
from qplane.domain.policies import MAX_REASON, PolicySettings, PolicyVersion
from qplane.policy.case_runner import CaseResult, PolicyTestReport
from qplane.policy.case_suite import MAX_CASES_TEXT
from qplane.policy.tenant_policies import MAX_POLICY_TEXT

router = APIRouter(tags=["policies"])
_POLICIES = "/v1/tenants/{tenant_id}/policies"
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


class BundleIn(Strict):
    policies: str = Field(max_length=MAX_POLICY_TEXT)
    cases: str = Field(max_length=MAX_CASES_TEXT)


class PushIn(BundleIn):
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class SettingsIn(Strict):
    require_approval: bool


class TestsOut(BaseModel):
    passed: bool
    total: int
    failed: int


class VersionSummaryOut(BaseModel):
    version: int
    status: str
    author_id: str
    reason: str
    digest: str
    created_at: datetime
    tests: TestsOut
    approved_by: str | None
    approved_at: datetime | None
    activated_at: datetime | None

    @classmethod
    def of(cls, version: PolicyVersion) -> VersionSummaryOut:
        tests = version.tests
        return cls(
            version=version.version,
            status=version.status.value,
            author_id=version.author_id,
            reason=version.reason,
            digest=version.digest,
            created_at=version.created_at,
            tests=TestsOut(passed=tests.passed, total=tests.total, failed=tests.failed),
            approved_by=version.approved_by,
            approved_at=version.approved_at,
            activated_at=version.activated_at,
        )


class VersionOut(VersionSummaryOut):
    policies: str
    cases: str
    diff: str
    #: The server's report when the version was pushed: counts, then one FAIL line per problem.
    test_report: str

    @classmethod
    def of(cls, version: PolicyVersion) -> VersionOut:
        return cls(
            **VersionSummaryOut.of(version).model_dump(),
            policies=version.policy_text,
            cases=version.cases_text,
            diff=version.diff,
            test_report=version.tests.text,
        )


class CaseResultOut(BaseModel):
    name: str
    passed: bool
    expected: str
    decision: str
    policy_ids: list[str]
    problems: list[str]

    @classmethod
    def of(cls, result: CaseResult) -> CaseResultOut:
        return cls(
            name=result.name,
            passed=result.passed,
            expected=_word(result.expect_allow),
            decision=_word(result.decision.allowed),
            policy_ids=list(result.decision.policy_ids),
            problems=list(result.problems),
        )


class TestReportOut(TestsOut):
    summary: str
    results: list[CaseResultOut]

    @classmethod
    def of(cls, report: PolicyTestReport) -> TestReportOut:
        return cls(
            passed=report.passed,
            total=len(report.results),
            failed=len(report.failures),
            summary=report.summary(),
            results=[CaseResultOut.of(result) for result in report.results],
        )


class SettingsOut(BaseModel):
    require_approval: bool
    active_version: int | None

    @classmethod
    def of(cls, settings: PolicySettings) -> SettingsOut:
        return cls(
            require_approval=settings.require_approval, active_version=settings.active_version
        )


@router.get(_POLICIES)
def list_versions(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[VersionSummaryOut]:
    """The tenant's policy versions, newest first."""
    return [VersionSummaryOut.of(v) for v in qp.policies.versions(actor, tenant_id)]


@router.post(_POLICIES, status_code=status.HTTP_201_CREATED)
def push_version(tenant_id: str, body: PushIn, actor: ActorDep, qp: PlatformDep) -> VersionOut:
    """A new version; its status says whether it is active, awaits approval, or failed its cases."""
    bundle = PolicyBundle(policies=body.policies, cases=body.cases)
    return VersionOut.of(qp.policies.push(actor, tenant_id, bundle, body.reason))


@router.post(_POLICIES + "/test")
def test_bundle(tenant_id: str, body: BundleIn, actor: ActorDep, qp: PlatformDep) -> TestReportOut:
    """Validate policies and run their cases as a push would; nothing is stored."""
    bundle = PolicyBundle(policies=body.policies, cases=body.cases)
    return TestReportOut.of(qp.policies.test(actor, tenant_id, bundle))


@router.get(_POLICIES + "/{version}")
def get_version(
    tenant_id: str, version: VersionNumber, actor: ActorDep, qp: PlatformDep
) -> VersionOut:
    return VersionOut.of(qp.policies.version(actor, tenant_id, version))


@router.post(_POLICIES + "/{version}/approve")
def approve_version(
    tenant_id: str, version: VersionNumber, actor: ActorDep, qp: PlatformDep
) -> VersionOut:
    """Approve (and so activate) a version pushed by another tenant admin."""
    return VersionOut.of(qp.policies.approve(actor, tenant_id, version))


@router.post(_POLICIES + "/{version}/activate")
def activate_version(
    tenant_id: str, version: VersionNumber, actor: ActorDep, qp: PlatformDep
) -> VersionOut:
    """Activate a version; to an earlier one this is the rollback. Its cases run again first."""
    return VersionOut.of(qp.policies.activate(actor, tenant_id, version))


@router.get("/v1/tenants/{tenant_id}/policy-settings")
def get_settings(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> SettingsOut:
    return SettingsOut.of(qp.policies.settings(actor, tenant_id))


@router.put("/v1/tenants/{tenant_id}/policy-settings")
def put_settings(tenant_id: str, body: SettingsIn, actor: ActorDep, qp: PlatformDep) -> SettingsOut:
    """Require (or stop requiring) a second tenant admin's approval before a version activates."""
    return SettingsOut.of(qp.policies.set_require_approval(actor, tenant_id, body.require_approval))


def _word(allowed: bool) -> str:
    return "allow" if allowed else "deny"
