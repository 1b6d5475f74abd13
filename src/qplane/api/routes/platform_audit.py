"""Operators' audit paths: the platform's log, break-glass elevations, a tenant's log under one.

``GET /v1/tenants/{tenant_id}/audit/entries`` serves a tenant's admins and
auditors too (like ``/v1/audit/entries``); an operator needs
``?elevation=elv_…``, granted by ``POST /v1/platform/elevations``. Without a
valid elevation of their own for that tenant, the answer is the one a
tenant that does not exist gets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from qplane.api.audit_schemas import (
    AuditPage,
    CheckpointList,
    CheckpointOut,
    ConsistencyOut,
    Cursor,
    FiltersDep,
    InclusionOut,
    Index,
    Limit,
    LogReportOut,
    Size,
)
from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import Strict
from qplane.domain.elevation import MAX_REASON

router = APIRouter(tags=["audit"])

_Id = Annotated[str | None, Query(max_length=64)]
_Size = Annotated[int | None, Query(ge=0, le=2**62)]


class ElevationIn(Strict):
    tenant_id: str = Field(max_length=40)
    #: Recorded in the tenant's log with every read under the elevation.
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    #: Default 1 h; at most the platform's ``QPLANE_BREAK_GLASS_MAX_TTL_S``.
    ttl_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)


class ElevationOut(BaseModel):
    id: str
    operator_id: str
    tenant_id: str
    reason: str
    created_at: datetime
    expires_at: datetime


# --- break-glass -----------------------------------------------------------------------


@router.post("/v1/platform/elevations", status_code=status.HTTP_201_CREATED)
def grant_elevation(body: ElevationIn, actor: ActorDep, qp: PlatformDep) -> ElevationOut:
    """An operator, after a recent MFA, elevates into one tenant's audit log for a while."""
    ttl = None if body.ttl_s is None else timedelta(seconds=body.ttl_s)
    grant = qp.platform_audit.grant(actor, body.tenant_id, body.reason, ttl)
    return ElevationOut(
        id=grant.id,
        operator_id=grant.operator_id,
        tenant_id=grant.tenant_id,
        reason=grant.reason,
        created_at=grant.created_at,
        expires_at=grant.expires_at,
    )


@router.get("/v1/tenants/{tenant_id}/audit/entries")
def tenant_entries(
    tenant_id: str,
    actor: ActorDep,
    qp: PlatformDep,
    wanted: FiltersDep,
    elevation: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """A tenant's entries: its admins and auditors, or an operator under ``elevation``."""
    log = qp.platform_audit.tenant_log(actor, tenant_id, elevation)
    return AuditPage.of(log, wanted, limit, cursor)


# --- the platform's own log ----------------------------------------------------------------


@router.get("/v1/platform/audit/entries")
def platform_entries(
    actor: ActorDep, qp: PlatformDep, wanted: FiltersDep, limit: Limit = 50, cursor: Cursor = None
) -> AuditPage:
    return AuditPage.of(qp.platform_audit.platform_log(actor), wanted, limit, cursor)


@router.get("/v1/platform/audit/verify")
def verify_platform_log(actor: ActorDep, qp: PlatformDep) -> LogReportOut:
    return LogReportOut.of(qp.platform_audit.platform_log(actor).verify())


@router.get("/v1/platform/audit/checkpoint")
def platform_checkpoint(actor: ActorDep, qp: PlatformDep, fresh: bool = False) -> CheckpointOut:
    return CheckpointOut.of(qp.platform_audit.platform_log(actor).checkpoint(fresh=fresh))


@router.get("/v1/platform/audit/checkpoints")
def platform_checkpoints(actor: ActorDep, qp: PlatformDep, min_size: Index = 0) -> CheckpointList:
    return CheckpointList.of(qp.platform_audit.platform_log(actor).checkpoints(min_size))


@router.get("/v1/platform/audit/proofs/inclusion")
def platform_inclusion_proof(
    actor: ActorDep, qp: PlatformDep, index: Index, tree_size: Size = None
) -> InclusionOut:
    return InclusionOut.of(qp.platform_audit.platform_log(actor).inclusion(index, tree_size))


@router.get("/v1/platform/audit/proofs/consistency")
def platform_consistency_proof(
    actor: ActorDep, qp: PlatformDep, old_size: Index, new_size: Size = None
) -> ConsistencyOut:
    return ConsistencyOut.of(qp.platform_audit.platform_log(actor).consistency(old_size, new_size))
