"""Tenant policy versions: immutable pushes of policy text, and which one governs.

A push never edits the policies in force: it adds a numbered version that
keeps its text, cases, author, reason and test report for good. Only its
status moves (and who approved or activated it, and when), so the history
a reviewer reads is the history that was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from qplane.domain.errors import ValidationFailed

MAX_REASON: Final = 500


class PolicyVersionStatus(StrEnum):
    #: Its cases failed when pushed: kept for the record, never activated.
    TESTS_FAILED = "tests_failed"
    #: Its cases passed; the tenant wants a second admin to approve it first.
    PENDING_APPROVAL = "pending_approval"
    #: The version that governs the tenant's decisions now (at most one).
    ACTIVE = "active"
    #: Was active and was replaced; a rollback may make it active again.
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class PolicyTestSummary:
    """What a version's cases said when it was pushed."""

    passed: bool
    total: int
    failed: int
    #: The runner's summary: counts, then one ``FAIL`` line per problem.
    text: str


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    tenant_id: str
    version: int
    policy_text: str
    cases_text: str
    author_id: str
    reason: str
    #: Unified diff against the version that was active when this one was pushed.
    diff: str
    #: The policy set's digest (tenant and text): what the decision path caches on.
    digest: str
    created_at: datetime
    tests: PolicyTestSummary
    status: PolicyVersionStatus
    approved_by: str | None = None
    approved_at: datetime | None = None
    activated_at: datetime | None = None

    @property
    def ever_active(self) -> bool:
        return self.activated_at is not None


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """A tenant's policy switches and the pointer to its active version."""

    tenant_id: str
    require_approval: bool = False
    active_version: int | None = None
    #: The active version's digest, read with the pointer so a cache can be checked cheaply.
    active_digest: str | None = None
    updated_at: datetime | None = None

    def activating(self, version: PolicyVersion, at: datetime) -> PolicySettings:
        return replace(
            self, active_version=version.version, active_digest=version.digest, updated_at=at
        )


@dataclass(frozen=True, slots=True)
class ActiveVersion:
    """The pointer alone: the decision path's one read per request."""

    version: int
    digest: str


def validate_reason(reason: str) -> str:
    """A reason is one printable line: it lands in the audit trail as written."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("say why: a policy push needs a reason", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"a reason has at most {MAX_REASON} characters", field="reason")
    if not reason.isprintable():
        raise ValidationFailed("a reason is one line of printable text", field="reason")
    return reason
