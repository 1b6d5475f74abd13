"""The audit log's storage: entries (leaves), immutable tree nodes, heads and checkpoints.

Appending is serialised per log: `head_for_update` locks the log's head
row, and `append` inserts the entry and the tree nodes it completed and
moves the head, all in the caller's transaction, so an entry commits or
rolls back with the change it records and two appenders can never both
take the same leaf index. The hashing itself belongs to `qplane.audit`;
this module only keeps what it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import Select, delete, func, select, text, update

from qplane.domain.audit import AuditEntry, LogHead, Outcome, StoredCheckpoint
from qplane.domain.errors import Conflict
from qplane.domain.ports import AuditQuery, Page
from qplane.store.models_audit import (
    AuditCheckpointRow,
    AuditEntryRow,
    AuditLogRow,
    AuditNodeRow,
)
from qplane.store.repositories._base import Repository, clamp_limit
from qplane.store.repositories._cursor import decode_cursor, encode_cursor

#: How many rows the streaming reads fetch per round trip.
_STREAM_BATCH: Final = 1000
_HASH: Final = 32


class SqlAuditRepository(Repository):
    # -- appending ------------------------------------------------------------
    def head_for_update(self, log: str) -> LogHead | None:
        """The log's head, or None for an empty log; either way locked for appending.

        An empty log has no head row to lock yet, so on PostgreSQL its first
        appenders queue on a transaction-scoped advisory lock named after the
        log (SQLite's BEGIN IMMEDIATE already admits one writer at a time).
        """
        row = self._locked_head(log)
        if row is None and self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(log)}
            )
            row = self._locked_head(log)  # the appender we waited for may have created it
        return None if row is None else _head(row)

    def head(self, log: str) -> LogHead | None:
        row = self._session.get(AuditLogRow, log, populate_existing=True)
        return None if row is None else _head(row)

    def append(
        self, entry: AuditEntry, nodes: Sequence[tuple[int, int, bytes]], head: LogHead
    ) -> None:
        """Store *entry*, the *nodes* (level, index, hash) it completed, and the new *head*.

        Raises `Conflict` when the entry is not the log's next leaf: the
        log only grows at its end.
        """
        if head.size != entry.index + 1 or head.log != entry.log:
            raise Conflict("audit entry is out of sequence")
        with self._guarded(conflict="audit entry already exists in this log"):
            self._session.add(_row(entry))
            self._session.add_all(
                AuditNodeRow(log=entry.log, level=level, idx=index, hash=digest)
                for level, index, digest in nodes
            )
            moved = self._rowcount(
                update(AuditLogRow)
                .where(AuditLogRow.log == entry.log, AuditLogRow.size == entry.index)
                .values(size=head.size, border=b"".join(head.border), root=head.root)
            )
            if moved == 0:
                if entry.index != 0 or self._session.get(AuditLogRow, entry.log) is not None:
                    raise Conflict("audit entry is out of sequence")
                self._session.add(
                    AuditLogRow(
                        log=entry.log,
                        size=head.size,
                        border=b"".join(head.border),
                        root=head.root,
                        pruned_below=0,
                    )
                )
            self._session.flush()

    # -- reading ----------------------------------------------------------------
    def entry(self, log: str, index: int) -> AuditEntry | None:
        row = self._session.get(AuditEntryRow, (log, index))
        return None if row is None else _entry(row)

    def entries(self, log: str, start: int = 0, end: int | None = None) -> Iterator[AuditEntry]:
        """The stored entries of *log* with index in [start, end), in order, streamed.

        Consume it inside the unit of work: rows are read lazily.
        """
        stmt = select(AuditEntryRow).where(AuditEntryRow.log == log, AuditEntryRow.idx >= start)
        if end is not None:
            stmt = stmt.where(AuditEntryRow.idx < end)
        stmt = stmt.order_by(AuditEntryRow.idx).execution_options(yield_per=_STREAM_BATCH)
        for row in self._session.scalars(stmt):
            yield _entry(row)

    def leaf_hashes(self, log: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """The stored level-0 nodes (index, leaf hash) of *log* in [start, end), in order."""
        stmt = (
            select(AuditNodeRow.idx, AuditNodeRow.hash)
            .where(
                AuditNodeRow.log == log,
                AuditNodeRow.level == 0,
                AuditNodeRow.idx >= start,
                AuditNodeRow.idx < end,
            )
            .order_by(AuditNodeRow.idx)
            .execution_options(yield_per=_STREAM_BATCH)
        )
        for index, digest in self._session.execute(stmt):
            yield int(index), bytes(digest)

    def node(self, log: str, level: int, index: int) -> bytes:
        """A stored node's hash; `KeyError` when it is absent."""
        row = self._session.get(AuditNodeRow, (log, level, index))
        if row is None:
            raise KeyError((log, level, index))
        return bytes(row.hash)

    def logs(self) -> list[str]:
        """Operator path: every log with at least one entry."""
        return list(self._session.scalars(select(AuditLogRow.log).order_by(AuditLogRow.log)))

    def search(self, query: AuditQuery, limit: int, cursor: str | None) -> Page[AuditEntry]:
        """One log's entries matching *query*, newest first, keyset-paginated on the index.

        ``since`` is inclusive and ``until`` exclusive, so consecutive
        windows neither overlap nor leave gaps.
        """
        size = clamp_limit(limit)
        stmt = _filtered(query)
        if cursor is not None:
            _, keys = decode_cursor(cursor, str, int)
            if keys[0] != query.log:
                return Page(items=[], next_cursor=None)
            stmt = stmt.where(AuditEntryRow.idx < int(keys[1]))
        rows = self._session.scalars(stmt.order_by(AuditEntryRow.idx.desc()).limit(size + 1)).all()
        next_cursor = None
        if len(rows) > size:
            last = rows[size - 1]
            next_cursor = encode_cursor(last.at, last.log, last.idx)
        return Page(items=[_entry(row) for row in rows[:size]], next_cursor=next_cursor)

    # -- checkpoints --------------------------------------------------------------
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self._guarded(conflict="a checkpoint of this size exists"):
            self._session.add(
                AuditCheckpointRow(
                    log=checkpoint.log,
                    size=checkpoint.size,
                    root_hash=checkpoint.root_hash,
                    signed_at=checkpoint.signed_at,
                    note=checkpoint.note,
                )
            )
            self._session.flush()

    def checkpoint(self, log: str, size: int) -> StoredCheckpoint | None:
        row = self._session.get(AuditCheckpointRow, (log, size))
        return None if row is None else _checkpoint(row)

    def latest_checkpoint(self, log: str) -> StoredCheckpoint | None:
        return self.checkpoint_at_or_below(log, None)

    def checkpoint_at_or_below(self, log: str, size: int | None) -> StoredCheckpoint | None:
        """The largest checkpoint of *log* no larger than *size* (any size: None)."""
        stmt = select(AuditCheckpointRow).where(AuditCheckpointRow.log == log)
        if size is not None:
            stmt = stmt.where(AuditCheckpointRow.size <= size)
        row = self._first(stmt.order_by(AuditCheckpointRow.size.desc()).limit(1))
        return None if row is None else _checkpoint(row)

    def checkpoints(self, log: str, min_size: int = 0) -> list[StoredCheckpoint]:
        """Every checkpoint of *log* of at least *min_size* entries, oldest first."""
        rows = self._all(
            select(AuditCheckpointRow)
            .where(AuditCheckpointRow.log == log, AuditCheckpointRow.size >= min_size)
            .order_by(AuditCheckpointRow.size)
        )
        return [_checkpoint(row) for row in rows]

    # -- retention ----------------------------------------------------------------
    def prune(self, log: str, below: int) -> int:
        """Delete the entries of *log* below index *below*; their leaf hashes stay.

        The head's ``pruned_below`` only grows. Returns how many entries went.
        """
        self._rowcount(
            update(AuditLogRow)
            .where(AuditLogRow.log == log, AuditLogRow.pruned_below < below)
            .values(pruned_below=below)
        )
        return self._rowcount(
            delete(AuditEntryRow).where(AuditEntryRow.log == log, AuditEntryRow.idx < below)
        )

    def pruned_below(self, log: str) -> int:
        row = self._session.get(AuditLogRow, log, populate_existing=True)
        return 0 if row is None else row.pruned_below

    def first_index_at_or_after(self, log: str, at: datetime) -> int | None:
        """The index of *log*'s first entry stamped at or after *at* (retention's cut)."""
        found = self._session.scalar(
            select(func.min(AuditEntryRow.idx)).where(
                AuditEntryRow.log == log, AuditEntryRow.at >= at
            )
        )
        return None if found is None else int(found)

    def _locked_head(self, log: str) -> AuditLogRow | None:
        return self._first(select(AuditLogRow).where(AuditLogRow.log == log).with_for_update())


def _filtered(query: AuditQuery) -> Select[AuditEntryRow]:
    stmt = select(AuditEntryRow).where(AuditEntryRow.log == query.log)
    equal = {
        AuditEntryRow.actor_id: query.actor_id,
        AuditEntryRow.action: query.action,
        AuditEntryRow.outcome: None if query.outcome is None else query.outcome.value,
        AuditEntryRow.decision: query.decision,
        AuditEntryRow.job_id: query.job_id,
        AuditEntryRow.backend: query.backend,
        AuditEntryRow.target: query.target,
    }
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if query.workload_id is not None:
        stmt = stmt.where(
            AuditEntryRow.actor_id == query.workload_id, AuditEntryRow.actor_kind == "service"
        )
    if query.since is not None:
        stmt = stmt.where(AuditEntryRow.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEntryRow.at < query.until)
    return stmt


def _advisory_key(log: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, derived from the log name."""
    digest = hashlib.sha256(b"qplane.audit.chain:" + log.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _head(row: AuditLogRow) -> LogHead:
    border = bytes(row.border)
    return LogHead(
        log=row.log,
        size=row.size,
        border=tuple(border[i : i + _HASH] for i in range(0, len(border), _HASH)),
        root=bytes(row.root),
    )


def _row(entry: AuditEntry) -> AuditEntryRow:
    return AuditEntryRow(
        log=entry.log,
        idx=entry.index,
        at=entry.at,
        clock=entry.clock,
        action=entry.action,
        outcome=entry.outcome.value,
        tenant_id=entry.tenant_id,
        actor_id=entry.actor_id,
        actor_kind=entry.actor_kind,
        auth_method=entry.auth_method,
        elevation_id=entry.elevation_id,
        decision=entry.decision,
        policy_ids=list(entry.policy_ids),
        job_id=entry.job_id,
        backend=entry.backend,
        target=entry.target,
        request_id=entry.request_id,
        source_ip=entry.source_ip,
        detail=entry.detail,
        correlations=dict(entry.correlations),
    )


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        log=row.log,
        index=row.idx,
        at=row.at,
        clock=row.clock,
        action=row.action,
        outcome=Outcome(row.outcome),
        tenant_id=row.tenant_id,
        actor_id=row.actor_id,
        actor_kind=row.actor_kind,
        auth_method=row.auth_method,
        elevation_id=row.elevation_id,
        decision=row.decision,
        policy_ids=tuple(str(p) for p in row.policy_ids),
        job_id=row.job_id,
        backend=row.backend,
        target=row.target,
        request_id=row.request_id,
        source_ip=row.source_ip,
        detail=row.detail,
        correlations=tuple(sorted((str(k), str(v)) for k, v in row.correlations.items())),
    )


def _checkpoint(row: AuditCheckpointRow) -> StoredCheckpoint:
    return StoredCheckpoint(
        log=row.log,
        size=row.size,
        root_hash=bytes(row.root_hash),
        signed_at=row.signed_at,
        note=row.note,
    )
