"""``POST /v1/tenants/{tenant_id}/policies/explain``: a hypothetical decision, explained."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import Strict
from qplane.broker.explain import Hypothesis

router = APIRouter(tags=["policies"])


class ExplainIn(Strict):
    #: A principal of the tenant: its id (``usr_…``) or its email.
    principal: str = Field(min_length=1, max_length=320)
    action: str = Field(min_length=1, max_length=64)
    #: ``tenant``, ``project:ID``, ``job:ID`` or ``artifact:JOB_ID:KIND``.
    resource: str = Field(min_length=1, max_length=160)
    at: datetime | None = None
    mfa: bool = True
    auth_age_s: int = Field(default=0, ge=0, le=10**9)
    source_ip: str | None = Field(default=None, max_length=45)


class PolicyOut(BaseModel):
    id: str
    origin: str
    effect: str
    text: str


class ExplainOut(BaseModel):
    allowed: bool
    decision: str
    policy_ids: list[str]
    policies: list[PolicyOut]
    errors: list[str]


@router.post("/v1/tenants/{tenant_id}/policies/explain")
def explain(tenant_id: str, body: ExplainIn, actor: ActorDep, qp: PlatformDep) -> ExplainOut:
    """What the live policies would decide, and which policies decided it (tenant admin)."""
    explained = qp.explain.explain(
        actor,
        tenant_id,
        body.principal,
        body.action,
        body.resource,
        Hypothesis(at=body.at, mfa=body.mfa, auth_age_s=body.auth_age_s, source_ip=body.source_ip),
    )
    decision = explained.decision
    return ExplainOut(
        allowed=decision.allowed,
        decision="allow" if decision.allowed else "deny",
        policy_ids=list(decision.policy_ids),
        policies=[
            PolicyOut(id=p.id, origin=p.origin, effect=p.effect, text=p.text)
            for p in explained.policies
        ],
        errors=list(decision.errors),
    )
