"""What the engine answers: a decision, the policies that determined it, and why.

A decision always names what determined it, so an audit entry or a 403 can
say *which* rule refused: the ids of the matching policies, or one of the
markers below when no policy did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

#: Denied because no permit matched (Cedar's default).
DEFAULT_DENY: Final = "default-deny"
#: Denied because the request does not fit the schema (wrong principal or
#: resource type for the action, a malformed context or entity).
INVALID_REQUEST: Final = "invalid-request"
#: Denied because a policy could not be evaluated; errors never allow.
EVALUATION_ERROR: Final = "evaluation-error"
#: Denied because the tenant policies given belong to another tenant than the request's.
FOREIGN_TENANT_POLICIES: Final = "foreign-tenant-policies"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: The determining policies (sorted), or one marker when none determined it.
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...] = ()

    @classmethod
    def refused(cls, marker: str, *errors: str) -> Decision:
        return cls(allowed=False, policy_ids=(marker,), errors=errors)


@dataclass(frozen=True, slots=True)
class ExplainedPolicy:
    id: str
    origin: Literal["baseline", "tenant"]
    effect: str
    #: The policy as written, with the comments directly above it.
    text: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """A decision with the text of every policy that determined it, for review."""

    decision: Decision
    policies: tuple[ExplainedPolicy, ...]
