"""A tenant's audit log as a download that proves itself (`qplane.audit.export`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from qplane.api.audit_schemas import FiltersDep
from qplane.api.deps import ActorDep, PlatformDep
from qplane.domain.errors import NotFound

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_Id = Annotated[str | None, Query(max_length=64)]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_log(
    actor: ActorDep,
    qp: PlatformDep,
    wanted: FiltersDep,
    format: Literal["jsonl", "ocsf"] = "jsonl",
) -> StreamingResponse:
    """JSON Lines: the log, its signed checkpoints and every proof needed to verify it offline.

    Filters as for ``/v1/audit/entries``; a filtered export is marked
    incomplete. ``format=ocsf`` writes entries as OCSF API Activity events.
    The export is recorded in the log (``audit.export``) before it starts.
    """
    if actor.tenant_id is None:
        raise NotFound("tenant not found")
    query = replace(wanted.query, log=actor.tenant_id)
    lines = qp.platform_audit.tenant_log(actor, actor.tenant_id).export(query, format)
    filename = f"audit-{actor.tenant_id}.{format}"
    return StreamingResponse(
        (line + "\n" for line in lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
