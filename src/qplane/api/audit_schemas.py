"""Request and response bodies of the audit API.

Entries are served as the exact JSON objects their Merkle leaves cover
(`qplane.audit.entry`), hashes as base64 like the C2SP checkpoint text, so
a client can recompute a leaf and check a proof with nothing but the
response.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

from qplane.audit.entry import to_record
from qplane.audit.merkle import ConsistencyProof
from qplane.audit.reading import EntryProof, LogAccess
from qplane.audit.verify import LogReport
from qplane.domain.audit import PLATFORM_LOG, AuditEntry, Outcome, StoredCheckpoint
from qplane.domain.ports import AuditQuery

_Id = Annotated[str | None, Query(max_length=64)]
Size = Annotated[int | None, Query(ge=0, le=2**62)]
Index = Annotated[int, Query(ge=0, le=2**62)]


@dataclass(frozen=True, slots=True)
class Filters:
    """The search filters every audit listing and export takes; the log is the reader's."""

    query: AuditQuery


def filters(
    actor_id: _Id = None,
    workload_id: _Id = None,
    action: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Outcome | None = None,
    decision: Annotated[str | None, Query(pattern="^(allow|deny)$")] = None,
    job_id: _Id = None,
    backend: _Id = None,
    target: Annotated[str | None, Query(max_length=255)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Filters:
    return Filters(
        AuditQuery(
            PLATFORM_LOG,  # replaced by the log the reader is given
            actor_id=actor_id,
            workload_id=workload_id,
            action=action,
            outcome=outcome,
            decision=decision,
            job_id=job_id,
            backend=backend,
            target=target,
            since=since,
            until=until,
        )
    )


FiltersDep = Annotated[Filters, Depends(filters)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class AuditPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None

    @classmethod
    def of(cls, log: LogAccess, wanted: Filters, limit: int, cursor: str | None) -> AuditPage:
        page = log.search(wanted.query, limit, cursor)
        return cls(items=records(page.items), next_cursor=page.next_cursor)


class CheckpointOut(BaseModel):
    log: str
    size: int
    root_hash: str
    signed_at: datetime
    #: The C2SP signed note: the evidence itself; the other fields index it.
    note: str

    @classmethod
    def of(cls, checkpoint: StoredCheckpoint) -> CheckpointOut:
        return cls(
            log=checkpoint.log,
            size=checkpoint.size,
            root_hash=b64(checkpoint.root_hash),
            signed_at=checkpoint.signed_at,
            note=checkpoint.note,
        )


class CheckpointList(BaseModel):
    items: list[CheckpointOut]

    @classmethod
    def of(cls, checkpoints: list[StoredCheckpoint]) -> CheckpointList:
        return cls(items=[CheckpointOut.of(c) for c in checkpoints])


class InclusionOut(BaseModel):
    entry: dict[str, Any]
    leaf_index: int
    tree_size: int
    hashes: list[str]
    checkpoint: CheckpointOut

    @classmethod
    def of(cls, proven: EntryProof) -> InclusionOut:
        return cls(
            entry=to_record(proven.entry),
            leaf_index=proven.proof.leaf_index,
            tree_size=proven.proof.tree_size,
            hashes=[b64(h) for h in proven.proof.hashes],
            checkpoint=CheckpointOut.of(proven.checkpoint),
        )


class ConsistencyOut(BaseModel):
    old: CheckpointOut
    new: CheckpointOut
    hashes: list[str]

    @classmethod
    def of(
        cls, proven: tuple[StoredCheckpoint, StoredCheckpoint, ConsistencyProof]
    ) -> ConsistencyOut:
        old, new, proof = proven
        return cls(
            old=CheckpointOut.of(old),
            new=CheckpointOut.of(new),
            hashes=[b64(h) for h in proof.hashes],
        )


class LogReportOut(BaseModel):
    log: str
    entries: int
    checkpoints: int
    ok: bool
    first_bad_index: int | None
    bad_checkpoint: int | None
    problem: str | None

    @classmethod
    def of(cls, report: LogReport) -> LogReportOut:
        return cls(
            log=report.log,
            entries=report.entries,
            checkpoints=report.checkpoints,
            ok=report.ok,
            first_bad_index=report.first_bad_index,
            bad_checkpoint=report.bad_checkpoint,
            problem=report.problem,
        )


class VerifierKeysOut(BaseModel):
    origin: str
    #: Each log's checkpoint origin is ``<origin>/audit/<log>``.
    log_origin_template: str
    vkeys: list[str]


def records(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [to_record(entry) for entry in entries]
