"""Checking a chain: recompute every hash and link, and name the first entry that breaks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qplane.audit.chain import GENESIS_HASH, recompute
from qplane.domain.audit import AuditEntry


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict on one chain. ``first_bad_seq`` is None when the chain is intact."""

    chain: str
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify_chain(chain: str, entries: Iterable[AuditEntry]) -> ChainReport:
    """Walk *entries* in sequence order and stop at the first inconsistency.

    Detects an edited entry (its hash no longer matches its content), a
    deleted, inserted or reordered entry (a gap in the sequence, or a link to
    a predecessor hash that is not the previous entry's), and an entry moved
    in from another chain.
    """
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    for entry in entries:
        count += 1
        problem = _problem(entry, chain, expected_seq, expected_prev)
        if problem is not None:
            return ChainReport(chain, count, first_bad_seq=entry.seq, problem=problem)
        expected_seq, expected_prev = entry.seq + 1, entry.entry_hash
    return ChainReport(chain, count)


def _problem(entry: AuditEntry, chain: str, seq: int, prev: str) -> str | None:
    if entry.chain != chain:
        return f"entry belongs to chain {entry.chain!r}"
    if entry.seq != seq:
        return f"expected sequence number {seq}, found {entry.seq} (entry missing or inserted)"
    if entry.prev_hash != prev:
        return "link to the previous entry is broken (entry deleted, inserted or reordered)"
    if recompute(entry) != entry.entry_hash:
        return "entry content does not match its hash (entry edited)"
    return None
