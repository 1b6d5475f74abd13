"""Tenant policy sets: parsed, checked, and namespaced so they cannot pose as the platform's.

A tenant's policies run in the same Cedar evaluation as the baseline, where
any matching ``forbid`` wins, so the worst a tenant policy can do is narrow
its own tenant's access or widen it inside the baseline's guard rails. The
checks here keep the rest honest:

- every policy has its own ``@id``, which becomes ``tenant:<tenant>:<id>``
  in decisions, so it can never collide with or impersonate a
  ``baseline.…`` id;
- the text validates against the platform schema (no unknown attribute,
  action or type, no ill-typed condition);
- it names no entity that is not the tenant's own (another tenant, its
  projects, groups or people); backends are platform-wide and may be named.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from qplane.domain.errors import ValidationFailed
from qplane.policy.baseline import BASELINE_PREFIX, Baseline
from qplane.policy.entities import EntityRef, EntityType, JsonValue
from qplane.policy.policy_source import (
    PolicySource,
    PolicySyntaxError,
    SourcePolicy,
    parse_policies,
    validation_problems,
)
from qplane.policy.references import referenced_uids
from qplane.policy.schema import PolicySchema

#: Whether a uid belongs to the tenant: a predicate, or the set of its uids.
KnownEntities: TypeAlias = Callable[[EntityRef], bool] | Collection[EntityRef]

MAX_POLICY_TEXT: Final = 256 * 1024
_TENANT_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LOCAL_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: Entity types anyone may name: platform-wide objects and the actions themselves.
_SHARED_TYPES: Final = frozenset({EntityType.BACKEND, EntityType.PLATFORM, EntityType.ACTION})


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    #: The id decisions report: ``tenant:<tenant id>:<local id>``.
    id: str
    local_id: str
    effect: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class TenantPolicySet:
    """One tenant's policies, ready to be evaluated with the baseline.

    Build it with `validate_tenant_policies` (new text) or
    `load_tenant_policies` (text that was validated when it was pushed).
    """

    tenant_id: str
    text: str
    #: Stable digest of the tenant id and text: the engine's cache key.
    digest: str
    policies: tuple[TenantPolicy, ...]
    #: Each policy in Cedar's JSON form, keyed by its namespaced id.
    est: Mapping[str, JsonValue]

    def policy(self, policy_id: str) -> TenantPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None)


def namespaced_id(tenant_id: str, local_id: str) -> str:
    """The id a tenant policy carries in decisions; ``:`` never occurs in a baseline id."""
    return f"tenant:{tenant_id}:{local_id}"


def validate_tenant_policies(
    tenant_id: str,
    text: str,
    known_entities: KnownEntities,
    *,
    schema: PolicySchema | None = None,
    baseline: Baseline | None = None,
) -> TenantPolicySet:
    """Accept *text* as *tenant_id*'s policies, or raise `ValidationFailed` saying why.

    Refuses text that does not parse, does not validate against the schema,
    lacks or reuses an ``@id`` (a baseline id included), or names an entity
    that is not the tenant's own according to *known_entities*. Messages
    name the policy's ``@id`` and the line it starts on.
    """
    source, policy_set = _load(tenant_id, text, schema, baseline)
    for policy in source.policies:
        _require_own_entities(tenant_id, policy, known_entities)
    return policy_set


def load_tenant_policies(
    tenant_id: str,
    text: str,
    *,
    schema: PolicySchema | None = None,
    baseline: Baseline | None = None,
) -> TenantPolicySet:
    """Build the set for text validated earlier; checks all but entity ownership.

    Ownership needs the tenant's directory; everything that protects the
    baseline (ids, schema) is checked again here, so a stored text that was
    tampered with cannot pose as the platform or break the evaluation.
    """
    return _load(tenant_id, text, schema, baseline)[1]


def _load(
    tenant_id: str, text: str, schema: PolicySchema | None, baseline: Baseline | None
) -> tuple[PolicySource, TenantPolicySet]:
    schema = schema or PolicySchema.shipped()
    baseline = baseline or Baseline.shipped(schema)
    if not _TENANT_ID.match(tenant_id):
        raise ValidationFailed("a tenant id has 1-64 letters, digits, '_' or '-'")
    if len(text.encode("utf-8")) > MAX_POLICY_TEXT:
        raise ValidationFailed(f"a tenant's policies are limited to {MAX_POLICY_TEXT} bytes")
    source = _parse(text)
    _require_own_ids(source, baseline)
    problems = validation_problems(source, schema.handle)
    if problems:
        raise ValidationFailed(
            "the policies do not validate against the schema: " + "; ".join(problems),
            problems=list(problems),
        )
    return source, _policy_set(tenant_id, source)


def _parse(text: str) -> PolicySource:
    try:
        source = parse_policies(text)
    except PolicySyntaxError as error:
        raise ValidationFailed(f"the policies do not parse: {error}", line=error.line) from None
    if source.has_templates:
        raise ValidationFailed("templates (?principal, ?resource) are not supported")
    return source


def _require_own_ids(source: PolicySource, baseline: Baseline) -> None:
    seen: set[str] = set()
    for policy in source.policies:
        ident = policy.annotated_id
        if ident is None:
            raise ValidationFailed(f'{policy.label} needs an @id("…") annotation', line=policy.line)
        if ident in baseline.ids or ident.startswith(BASELINE_PREFIX):
            raise ValidationFailed(
                f"{policy.label} uses an id reserved for the platform baseline",
                line=policy.line,
            )
        if not _LOCAL_ID.match(ident):
            raise ValidationFailed(
                f"{policy.label}: an id has 1-64 lowercase letters, digits, '.', '_' or '-'",
                line=policy.line,
            )
        if ident in seen:
            raise ValidationFailed(f"{policy.label} repeats an earlier id", line=policy.line)
        seen.add(ident)


def _require_own_entities(
    tenant_id: str, policy: SourcePolicy, known_entities: KnownEntities
) -> None:
    for uid in referenced_uids(policy.est):
        try:
            ref = EntityRef.from_cedar(uid)
        except ValueError:
            raise ValidationFailed(
                f"{policy.label} names an entity outside the schema", line=policy.line
            ) from None
        if not _is_own(tenant_id, ref, known_entities):
            raise ValidationFailed(
                f"{policy.label} names {ref}, which is not an entity of this tenant",
                line=policy.line,
                entity=str(ref),
            )


def _is_own(tenant_id: str, ref: EntityRef, known_entities: KnownEntities) -> bool:
    if ref.type in _SHARED_TYPES:
        return True
    if ref.type is EntityType.TENANT:
        return ref.id == tenant_id
    if callable(known_entities):
        return known_entities(ref)
    return ref in known_entities


def _policy_set(tenant_id: str, source: PolicySource) -> TenantPolicySet:
    policies: list[TenantPolicy] = []
    est: dict[str, JsonValue] = {}
    for policy in source.policies:
        assert policy.annotated_id is not None  # checked by _require_own_ids
        ident = namespaced_id(tenant_id, policy.annotated_id)
        policies.append(
            TenantPolicy(ident, policy.annotated_id, policy.effect, policy.line, policy.text)
        )
        est[ident] = policy.est
    digest = hashlib.sha256(f"{tenant_id}\n{source.text}".encode()).hexdigest()
    return TenantPolicySet(tenant_id, source.text, digest, tuple(policies), est)
