"""The audit log's storage: hash-chained entries, one head row per chain, and queries.

Appending is serialised per chain: `head_for_update` locks the chain's head
row, and `append` moves the head in the same transaction as the insert, so
two appenders can never both extend the same entry (which would fork the
chain). The hashing itself belongs to `qplane.audit`; this module only
keeps what it is given, in order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Final

from sqlalchemy import Select, and_, or_, select, text, update

from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.errors import Conflict
from qplane.domain.ports import AuditQuery, Page
from qplane.store.models import AuditEntryRow, AuditHeadRow
from qplane.store.repositories._base import Repository, clamp_limit
from qplane.store.repositories._cursor import decode_cursor, encode_cursor

#: How many entries `chain` fetches per round trip while streaming.
_STREAM_BATCH: Final = 500


class SqlAuditRepository(Repository):
    def head_for_update(self, chain: str) -> tuple[int, str] | None:
        """(seq, entry_hash) of the chain's last entry, or None for an empty chain.

        Either way the chain is locked for appending until the transaction
        ends. An empty chain has no head row to lock yet, so on PostgreSQL
        its first appenders queue on a transaction-scoped advisory lock
        named after the chain (SQLite's BEGIN IMMEDIATE already admits one
        writer at a time).
        """
        head = self._locked_head(chain)
        if head is None and self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(chain)}
            )
            head = self._locked_head(chain)  # the appender we waited for may have created it
        return None if head is None else (head.seq, head.entry_hash)

    def append(self, entry: AuditEntry) -> None:
        """Store *entry* and make it the head of its chain.

        Raises `Conflict` for a sequence number already used in the chain,
        or one not after the current head: the log only grows at its end.
        """
        with self._guarded(conflict="audit entry already exists in this chain"):
            self._session.add(_row(entry))
            moved = self._rowcount(
                update(AuditHeadRow)
                .where(AuditHeadRow.chain == entry.chain, AuditHeadRow.seq < entry.seq)
                .values(seq=entry.seq, entry_hash=entry.entry_hash)
            )
            if moved == 0:
                if self._session.get(AuditHeadRow, entry.chain) is not None:
                    raise Conflict("audit entry is out of sequence")
                self._session.add(
                    AuditHeadRow(chain=entry.chain, seq=entry.seq, entry_hash=entry.entry_hash)
                )

    def search(self, query: AuditQuery, limit: int, cursor: str | None) -> Page[AuditEntry]:
        """One tenant's entries matching *query*, newest first, keyset-paginated.

        ``since`` is inclusive and ``until`` exclusive, so consecutive
        windows neither overlap nor leave gaps.
        """
        size = clamp_limit(limit)
        stmt = _filtered(query)
        if cursor is not None:
            at, keys = decode_cursor(cursor, str, int)
            chain, seq = str(keys[0]), int(keys[1])
            stmt = stmt.where(
                or_(
                    AuditEntryRow.at < at,
                    and_(
                        AuditEntryRow.at == at,
                        or_(
                            AuditEntryRow.chain < chain,
                            and_(AuditEntryRow.chain == chain, AuditEntryRow.seq < seq),
                        ),
                    ),
                )
            )
        stmt = stmt.order_by(
            AuditEntryRow.at.desc(), AuditEntryRow.chain.desc(), AuditEntryRow.seq.desc()
        ).limit(size + 1)
        rows = self._session.scalars(stmt).all()
        next_cursor = None
        if len(rows) > size:
            last = rows[size - 1]
            next_cursor = encode_cursor(last.at, last.chain, last.seq)
        return Page(items=[_entry(row) for row in rows[:size]], next_cursor=next_cursor)

    def chain(self, chain: str) -> Iterator[AuditEntry]:
        """Every entry of one chain in sequence order, streamed in batches.

        Consume it inside the unit of work: the rows are read lazily.
        """
        stmt = (
            select(AuditEntryRow)
            .where(AuditEntryRow.chain == chain)
            .order_by(AuditEntryRow.seq)
            .execution_options(yield_per=_STREAM_BATCH)
        )
        for row in self._session.scalars(stmt):
            yield _entry(row)

    def chains(self) -> list[str]:
        """Operator path: the name of every chain with at least one entry."""
        return list(self._session.scalars(select(AuditHeadRow.chain).order_by(AuditHeadRow.chain)))

    def _locked_head(self, chain: str) -> AuditHeadRow | None:
        return self._first(
            select(AuditHeadRow).where(AuditHeadRow.chain == chain).with_for_update()
        )


def _filtered(query: AuditQuery) -> Select[AuditEntryRow]:
    stmt = select(AuditEntryRow).where(AuditEntryRow.tenant_id == query.tenant_id)
    if query.actor_id is not None:
        stmt = stmt.where(AuditEntryRow.actor_id == query.actor_id)
    if query.action is not None:
        stmt = stmt.where(AuditEntryRow.action == query.action)
    if query.outcome is not None:
        stmt = stmt.where(AuditEntryRow.outcome == query.outcome.value)
    if query.target is not None:
        stmt = stmt.where(AuditEntryRow.target == query.target)
    if query.since is not None:
        stmt = stmt.where(AuditEntryRow.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEntryRow.at < query.until)
    return stmt


def _advisory_key(chain: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, derived from the chain name."""
    digest = hashlib.sha256(b"qplane.audit.chain:" + chain.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _row(entry: AuditEntry) -> AuditEntryRow:
    return AuditEntryRow(
        chain=entry.chain,
        seq=entry.seq,
        at=entry.at,
        action=entry.action,
        outcome=entry.outcome.value,
        tenant_id=entry.tenant_id,
        actor_id=entry.actor_id,
        target=entry.target,
        request_id=entry.request_id,
        detail=entry.detail,
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
    )


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        chain=row.chain,
        at=row.at,
        action=row.action,
        outcome=Outcome(row.outcome),
        tenant_id=row.tenant_id,
        actor_id=row.actor_id,
        target=row.target,
        request_id=row.request_id,
        detail=row.detail,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )
