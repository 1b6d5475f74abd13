"""The policy decision point: the baseline and a tenant's policies, in one Cedar evaluation.

Cedar's rules are the security argument: nothing is allowed unless a
permit matches, and any matching forbid overrides every permit. The
baseline's guard rails are forbids, so a tenant's policies, evaluated
alongside, can narrow access or widen it only inside them.

Beyond Cedar, the engine fails closed: a request that does not fit the
schema, a policy that errors, or tenant policies belonging to another
tenant all deny, each with a marker naming why (see `decision`).

Policy sets are parsed once and cached per tenant policy version; the
engine holds only immutable Cedar handles, so one instance serves any
number of threads.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import cedarpy

from qplane.policy.baseline import Baseline
from qplane.policy.decision import (
    DEFAULT_DENY,
    EVALUATION_ERROR,
    FOREIGN_TENANT_POLICIES,
    INVALID_REQUEST,
    Decision,
    ExplainedPolicy,
    Explanation,
)
from qplane.policy.entities import Entity, EntityRef, EntityType, JsonValue
from qplane.policy.request import AccessRequest
from qplane.policy.schema import PolicySchema
from qplane.policy.tenant_policies import (
    KnownEntities,
    TenantPolicySet,
    load_tenant_policies,
    namespaced_id,
    validate_tenant_policies,
)


class PolicyEngine:
    """Decides requests against the platform baseline plus, optionally, a tenant's policies.

    Raises `InvalidPolicyConfiguration` at construction when the schema or
    the baseline is broken: an engine that exists can decide.
    """

    def __init__(
        self, *, baseline: str | None = None, schema: str | None = None, cache_size: int = 256
    ) -> None:
        self._schema = PolicySchema.shipped() if schema is None else PolicySchema.parse(schema)
        self._baseline = (
            Baseline.shipped(self._schema)
            if baseline is None
            else Baseline.parse(baseline, self._schema)
        )
        self._baseline_set = _compile(dict(self._baseline.est))
        self._cache: OrderedDict[str, cedarpy.PolicySet] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def schema(self) -> PolicySchema:
        return self._schema

    @property
    def baseline(self) -> Baseline:
        return self._baseline

    def validate_tenant_policies(
        self, tenant_id: str, text: str, known_entities: KnownEntities
    ) -> TenantPolicySet:
        """`validate_tenant_policies` against this engine's schema and baseline."""
        return validate_tenant_policies(
            tenant_id, text, known_entities, schema=self._schema, baseline=self._baseline
        )

    def load_tenant_policies(self, tenant_id: str, text: str) -> TenantPolicySet:
        """`load_tenant_policies` against this engine's schema and baseline."""
        return load_tenant_policies(tenant_id, text, schema=self._schema, baseline=self._baseline)

    def decide(
        self, request: AccessRequest, tenant_policies: TenantPolicySet | None = None
    ) -> Decision:
        """Allow or deny *request*; deterministic for the same request and policies.

        *tenant_policies* must be the governing tenant's (the resource's tenant,
        else the caller's); another tenant's set denies with
        `FOREIGN_TENANT_POLICIES` rather than deciding under the wrong rules.
        """
        if tenant_policies is not None and tenant_policies.tenant_id != request.governing_tenant:
            return Decision.refused(
                FOREIGN_TENANT_POLICIES,
                f"policies of tenant {tenant_policies.tenant_id!r} do not govern this request",
            )
        try:
            policies = self._policy_set(tenant_policies)
            entities = cedarpy.Entities.from_json_str(_entities_json(request), self._schema.handle)
            result = cedarpy.is_authorized(
                _request_json(request), policies, entities, schema=self._schema.handle
            )
        except ValueError as error:
            return Decision.refused(INVALID_REQUEST, str(error))
        return _decision(result)

    def explain(
        self, request: AccessRequest, tenant_policies: TenantPolicySet | None = None
    ) -> Explanation:
        """The decision with the text of each determining policy, for security review."""
        decision = self.decide(request, tenant_policies)
        explained = []
        for policy_id in decision.policy_ids:
            policy = self._explained(policy_id, tenant_policies)
            if policy is not None:
                explained.append(policy)
        return Explanation(decision=decision, policies=tuple(explained))

    def _explained(
        self, policy_id: str, tenant_policies: TenantPolicySet | None
    ) -> ExplainedPolicy | None:
        baseline = self._baseline.policies.get(policy_id)
        if baseline is not None:
            return ExplainedPolicy(policy_id, "baseline", baseline.effect, baseline.text)
        tenant = tenant_policies.policy(policy_id) if tenant_policies else None
        if tenant is not None:
            return ExplainedPolicy(policy_id, "tenant", tenant.effect, tenant.text)
        return None  # a marker such as default-deny: no policy text to show

    def _policy_set(self, tenant_policies: TenantPolicySet | None) -> cedarpy.PolicySet:
        if tenant_policies is None or not tenant_policies.policies:
            return self._baseline_set
        with self._lock:
            cached = self._cache.get(tenant_policies.digest)
            if cached is not None:
                self._cache.move_to_end(tenant_policies.digest)
                return cached
        compiled = _compile(self._combined(tenant_policies))
        with self._lock:
            self._cache[tenant_policies.digest] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    def _combined(self, tenant_policies: TenantPolicySet) -> dict[str, JsonValue]:
        prefix = namespaced_id(tenant_policies.tenant_id, "")
        if not all(policy_id.startswith(prefix) for policy_id in tenant_policies.est):
            # Only a hand-built set gets here; it must not replace a baseline policy.
            raise ValueError("tenant policy ids must carry the tenant's namespace")
        return {**self._baseline.est, **tenant_policies.est}


def _compile(policies: dict[str, JsonValue]) -> cedarpy.PolicySet:
    document = {"staticPolicies": policies, "templates": {}, "templateLinks": []}
    return cedarpy.PolicySet.from_json_str(json.dumps(document))


def _entities_json(request: AccessRequest) -> str:
    """The entity slice, each uid once; two different versions of one uid are refused."""
    slice_: dict[EntityRef, Entity] = {}
    for entity in (request.principal, request.resource, *request.entities):
        known = slice_.setdefault(entity.uid, entity)
        if known != entity:
            raise ValueError(f"two different versions of {entity.uid} in one request")
    return json.dumps([entity.to_cedar() for entity in slice_.values()])


def _request_json(request: AccessRequest) -> dict[str, JsonValue]:
    return {
        "principal": request.principal.uid.to_cedar(),
        "action": EntityRef(EntityType.ACTION, request.action.value).to_cedar(),
        "resource": request.resource.uid.to_cedar(),
        "context": request.context.to_cedar(),
    }


def _decision(result: cedarpy.AuthzResult) -> Decision:
    reasons = tuple(sorted(result.diagnostics.reasons))
    errors = tuple(result.diagnostics.errors)
    if result.decision is cedarpy.Decision.NoDecision:
        return Decision.refused(INVALID_REQUEST, *errors)
    if errors and (result.allowed or not reasons):
        # A policy that could not be evaluated might have been a forbid: refuse.
        return Decision.refused(EVALUATION_ERROR, *errors)
    if result.allowed:
        return Decision(allowed=True, policy_ids=reasons)
    return Decision(allowed=False, policy_ids=reasons or (DEFAULT_DENY,), errors=errors)
