"""The tenant's own audit log: search it, fetch signed checkpoints and proofs, self-check it.

Tenant admins and auditors read through the same `LogAccess` as every
other reader (`qplane.audit.platform_access`), so each read is decided by
the policies and recorded in the log it reads.
"""

from __future__ import annotations

from fastapi import APIRouter

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
    VerifierKeysOut,
)
from qplane.api.deps import ActorDep, PlatformDep
from qplane.audit.reading import LogAccess
from qplane.bootstrap import Platform
from qplane.domain.errors import NotFound
from qplane.policy.actor import Actor

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _own_log(actor: Actor, qp: Platform) -> LogAccess:
    if actor.tenant_id is None:
        raise NotFound("tenant not found")
    return qp.platform_audit.tenant_log(actor, actor.tenant_id)


@router.get("/entries")
def search_entries(
    actor: ActorDep, qp: PlatformDep, wanted: FiltersDep, limit: Limit = 50, cursor: Cursor = None
) -> AuditPage:
    return AuditPage.of(_own_log(actor, qp), wanted, limit, cursor)


@router.get("/verify")
def verify_log(actor: ActorDep, qp: PlatformDep) -> LogReportOut:
    """The server recomputes the tenant's tree and checks every signed checkpoint."""
    return LogReportOut.of(_own_log(actor, qp).verify())


@router.get("/keys")
def verifier_keys(qp: PlatformDep) -> VerifierKeysOut:
    """The checkpoint verifier keys, public so a tenant can pin them out of band."""
    keys = qp.audit.keys
    return VerifierKeysOut(
        origin=keys.origin,
        log_origin_template=f"{keys.origin}/audit/{{log}}",
        vkeys=list(keys.vkeys),
    )


@router.get("/checkpoint")
def latest_checkpoint(actor: ActorDep, qp: PlatformDep, fresh: bool = False) -> CheckpointOut:
    return CheckpointOut.of(_own_log(actor, qp).checkpoint(fresh=fresh))


@router.post("/checkpoints", status_code=201)
def sign_checkpoint(actor: ActorDep, qp: PlatformDep) -> CheckpointOut:
    """Sign a checkpoint of the tenant's log now (on demand, besides the interval)."""
    return CheckpointOut.of(_own_log(actor, qp).checkpoint(fresh=True))


@router.get("/checkpoints")
def list_checkpoints(actor: ActorDep, qp: PlatformDep, min_size: Index = 0) -> CheckpointList:
    return CheckpointList.of(_own_log(actor, qp).checkpoints(min_size))


@router.get("/proofs/inclusion")
def inclusion_proof(
    actor: ActorDep, qp: PlatformDep, index: Index, tree_size: Size = None
) -> InclusionOut:
    return InclusionOut.of(_own_log(actor, qp).inclusion(index, tree_size))


@router.get("/proofs/consistency")
def consistency_proof(
    actor: ActorDep, qp: PlatformDep, old_size: Index, new_size: Size = None
) -> ConsistencyOut:
    return ConsistencyOut.of(_own_log(actor, qp).consistency(old_size, new_size))
