"""The platform baseline: the policies every decision includes and no tenant edits.

Loaded once, validated against the schema, and refused whole if any policy
lacks a stable ``@id("baseline.…")``: decisions, audit entries and
explanations name baseline policies by that id, so it must exist, be unique,
and be recognisable as the platform's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from qplane.policy.entities import JsonValue
from qplane.policy.errors import InvalidPolicyConfiguration
from qplane.policy.policy_source import (
    PolicySource,
    PolicySyntaxError,
    parse_policies,
    validation_problems,
)
from qplane.policy.schema import PolicySchema, shipped_text

BASELINE_PREFIX: Final = "baseline."
_BASELINE_ID: Final = re.compile(r"^baseline\.[a-z0-9][a-z0-9.-]*$")


@dataclass(frozen=True, slots=True)
class BaselinePolicy:
    id: str
    effect: str
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Baseline:
    policies: Mapping[str, BaselinePolicy]
    #: Each policy in Cedar's JSON form, keyed by its id.
    est: Mapping[str, JsonValue]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.policies)

    @classmethod
    def parse(cls, text: str, schema: PolicySchema) -> Baseline:
        """Parse and validate *text*; raise `InvalidPolicyConfiguration` on any flaw."""
        try:
            source = parse_policies(text)
        except PolicySyntaxError as error:
            raise InvalidPolicyConfiguration(f"the baseline does not parse: {error}") from None
        _require_stable_ids(source)
        _require_valid(source, schema)
        policies: dict[str, BaselinePolicy] = {}
        est: dict[str, JsonValue] = {}
        for policy in source.policies:
            assert policy.annotated_id is not None  # checked by _require_stable_ids
            policies[policy.annotated_id] = BaselinePolicy(
                policy.annotated_id, policy.effect, policy.text, policy.line
            )
            est[policy.annotated_id] = policy.est
        return cls(policies=policies, est=est)

    @classmethod
    def shipped(cls, schema: PolicySchema | None = None) -> Baseline:
        """The baseline packaged with qplane, validated against *schema* (default: shipped)."""
        if schema is None or schema is PolicySchema.shipped():
            return _shipped_baseline()
        return cls.parse(shipped_text("baseline.cedar"), schema)


@cache
def _shipped_baseline() -> Baseline:
    return Baseline.parse(shipped_text("baseline.cedar"), PolicySchema.shipped())


def _require_stable_ids(source: PolicySource) -> None:
    if source.has_templates:
        raise InvalidPolicyConfiguration("the baseline may not contain templates")
    seen: set[str] = set()
    for policy in source.policies:
        ident = policy.annotated_id
        if ident is None or not _BASELINE_ID.match(ident):
            raise InvalidPolicyConfiguration(
                f'baseline {policy.label} needs an @id("baseline.<name>") annotation'
            )
        if ident in seen:
            raise InvalidPolicyConfiguration(f"baseline {policy.label} repeats its id")
        seen.add(ident)


def _require_valid(source: PolicySource, schema: PolicySchema) -> None:
    problems = validation_problems(source, schema.handle)
    if problems:
        raise InvalidPolicyConfiguration(
            "the baseline does not validate against the schema: " + "; ".join(problems)
        )
