"""Workload identity federation: trust policies and the RFC 8693 token-exchange endpoint.

* ``/v1/projects/{project_id}/trust-policies`` — tenant admins create, list
  and delete the trust policies of a project.
* ``POST /v1/oauth/token-exchange`` — an external workload swaps its OIDC
  token (form-encoded, RFC 8693) for a short-lived platform token; a
  ``DPoP`` header binds the issued token to the proof's key. The same grant
  is also served by the shared token endpoint ``POST /v1/auth/token``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from qplane.api.deps import ActorDep, PlatformDep, request_url
from qplane.api.routes import sessions
from qplane.bootstrap import Platform
from qplane.domain.federation import MAX_FEDERATED_TTL_S, TrustPolicy
from qplane.identity.federation import (
    GRANT_TYPE,
    ExchangeRefused,
    ExchangeRequest,
    ExchangeResult,
    TrustPolicySpec,
)

router = APIRouter(tags=["workload identity"])
_MAX_FORM_BYTES: Final = 32 * 1024


class ConditionIn(BaseModel):
    claim: Annotated[str, Field(min_length=1, max_length=64)]
    op: Literal["eq", "glob"] = "eq"
    value: Annotated[str, Field(min_length=1, max_length=512)]


class TrustPolicyIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    issuer: Annotated[str, Field(min_length=1, max_length=255)]
    audience: Annotated[str, Field(min_length=1, max_length=255)]
    conditions: list[ConditionIn]
    roles: list[str] = Field(default_factory=lambda: ["member"])
    max_ttl_s: int = MAX_FEDERATED_TTL_S
    require_dpop: bool = False


class TrustPolicyOut(BaseModel):
    id: str
    project_id: str
    principal_id: str
    name: str
    issuer: str
    audience: str
    conditions: list[ConditionIn]
    roles: list[str]
    max_ttl_s: int
    require_dpop: bool
    created_at: datetime

    @classmethod
    def of(cls, policy: TrustPolicy) -> TrustPolicyOut:
        return cls(
            id=policy.id,
            project_id=policy.project_id,
            principal_id=policy.principal_id,
            name=policy.name,
            issuer=policy.issuer,
            audience=policy.audience,
            conditions=[
                ConditionIn(claim=c.claim, op=c.op.value, value=c.value) for c in policy.conditions
            ],
            roles=sorted(policy.roles),
            max_ttl_s=policy.max_ttl_s,
            require_dpop=policy.require_dpop,
            created_at=policy.created_at,
        )


class ExchangeOut(BaseModel):
    """RFC 8693 §2.2.1 response."""

    access_token: str
    issued_token_type: str
    token_type: str
    expires_in: int

    @classmethod
    def of(cls, result: ExchangeResult) -> ExchangeOut:
        return cls(
            access_token=result.access_token,
            issued_token_type=result.issued_token_type,
            token_type=result.token_type,
            expires_in=result.expires_in,
        )


@router.post("/v1/projects/{project_id}/trust-policies", status_code=201)
def create_trust_policy(
    project_id: str, body: TrustPolicyIn, actor: ActorDep, qp: PlatformDep
) -> TrustPolicyOut:
    """Trust an external issuer's tokens (matching every condition) in this project."""
    spec = TrustPolicySpec(
        name=body.name,
        issuer=body.issuer,
        audience=body.audience,
        conditions=[(c.claim, c.op, c.value) for c in body.conditions],
        roles=body.roles,
        max_ttl_s=body.max_ttl_s,
        require_dpop=body.require_dpop,
    )
    return TrustPolicyOut.of(qp.federation.create_policy(actor, project_id, spec))


@router.get("/v1/projects/{project_id}/trust-policies")
def list_trust_policies(project_id: str, actor: ActorDep, qp: PlatformDep) -> list[TrustPolicyOut]:
    return [TrustPolicyOut.of(p) for p in qp.federation.list_policies(actor, project_id)]


@router.delete("/v1/projects/{project_id}/trust-policies/{policy_id}", status_code=204)
def delete_trust_policy(
    project_id: str, policy_id: str, actor: ActorDep, qp: PlatformDep
) -> Response:
    """Delete a policy; its service principal is disabled at once."""
    qp.federation.delete_policy(actor, project_id, policy_id)
    return Response(status_code=204)


@router.post("/v1/oauth/token-exchange")
async def token_exchange(request: Request, qp: PlatformDep) -> ExchangeOut:
    """RFC 8693 token exchange: an external OIDC token in, a project-scoped platform token out.

    Form fields: ``grant_type`` (token-exchange), ``subject_token``,
    ``subject_token_type`` (``…:token-type:jwt`` or ``id_token``),
    ``audience`` (or ``resource``) naming the project id, and optionally
    ``requested_token_type`` (``…:token-type:access_token``).
    """
    form = await _form(request)
    result = await run_in_threadpool(qp.federation.exchange, _exchange_request(request, qp, form))
    return ExchangeOut.of(result)


def _exchange_grant(request: Request, qp: Platform, form: dict[str, str]) -> dict[str, Any]:
    """The same exchange served by the shared token endpoint (``POST /v1/auth/token``)."""
    result = qp.federation.exchange(_exchange_request(request, qp, form))
    return ExchangeOut.of(result).model_dump()


sessions.register_grant(GRANT_TYPE, _exchange_grant)


def _exchange_request(request: Request, qp: Platform, form: dict[str, str]) -> ExchangeRequest:
    return ExchangeRequest(
        grant_type=form.get("grant_type", ""),
        subject_token=form.get("subject_token", ""),
        subject_token_type=form.get("subject_token_type", ""),
        audience=form.get("audience") or form.get("resource", ""),
        requested_token_type=form.get("requested_token_type"),
        dpop_proof=_single_dpop(request),
        url=request_url(request, qp),
        request_id=request.state.request_id,
    )


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body; RFC 6749 §3.2: no repeated parameters."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise ExchangeRefused("the body must be form-urlencoded", "invalid_request")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ExchangeRefused("the request body is too large", "invalid_request")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ExchangeRefused("the body is not valid form data", "invalid_request") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise ExchangeRefused("parameters must not repeat", "invalid_request")
    return form


def _single_dpop(request: Request) -> str | None:
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        raise ExchangeRefused("more than one DPoP header", "invalid_dpop_proof")
    return proofs[0] if proofs else None
