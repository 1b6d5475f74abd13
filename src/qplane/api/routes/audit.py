"""The tenant's own audit trail: search it, and have the server verify its chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import AuditEntryOut, AuditPage, ChainReportOut
from qplane.domain.audit import Outcome
from qplane.domain.errors import NotFound
from qplane.domain.ports import AuditQuery

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/entries")
def search_entries(
    actor: ActorDep,
    qp: PlatformDep,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Outcome | None = None,
    target: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    if actor.tenant_id is None:
        raise NotFound("tenant not found")
    query = AuditQuery(actor.tenant_id, actor_id, action, outcome, target, since, until)
    page = qp.audit.search(actor, query, limit, cursor)
    items = [
        AuditEntryOut(
            chain=e.chain,
            seq=e.seq,
            at=e.at,
            action=e.action,
            outcome=e.outcome.value,
            tenant_id=e.tenant_id,
            actor_id=e.actor_id,
            target=e.target,
            request_id=e.request_id,
            detail=e.detail,
            prev_hash=e.prev_hash,
            entry_hash=e.entry_hash,
        )
        for e in page.items
    ]
    return AuditPage(items=items, next_cursor=page.next_cursor)


@router.get("/verify")
def verify_chain(actor: ActorDep, qp: PlatformDep) -> ChainReportOut:
    report = qp.audit.verify_tenant(actor)
    return ChainReportOut(
        chain=report.chain,
        entries=report.entries,
        ok=report.ok,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )
