"""Checking a log: recompute its tree from the entries and hold it against signed checkpoints.

The same walk serves the server's self-check (entries read from the
database) and the offline verification of an export (`qplane.audit.export`):
recompute every leaf hash from the entry's content, fold the leaves into
the tree, and at each checkpoint's size compare the recomputed root with
the one the platform signed. Where the stored leaf hashes are at hand
(the server's tree nodes, written once at append time) an edited entry is
named exactly; otherwise the first entry after the last matching
checkpoint is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from qplane.audit.checkpoint import Checkpoint, parse_and_verify
from qplane.audit.entry import entry_leaf
from qplane.audit.merkle_tree import CompactRange
from qplane.audit.note import NoteVerifier
from qplane.domain.audit import AuditEntry, LogHead, StoredCheckpoint
from qplane.domain.errors import IntegrityError


@dataclass(frozen=True, slots=True)
class LogReport:
    """The verdict on one log. Intact when neither an entry nor a checkpoint is named."""

    log: str
    entries: int
    checkpoints: int
    first_bad_index: int | None = None
    bad_checkpoint: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """One line for a terminal or a problem detail."""
        if self.ok:
            return (
                f"audit log {self.log} intact: {self.entries} entries, "
                f"{self.checkpoints} signed checkpoints"
            )
        where = (
            f"entry {self.first_bad_index}"
            if self.first_bad_index is not None
            else f"checkpoint of size {self.bad_checkpoint}"
        )
        return f"audit log {self.log} is broken at {where}: {self.problem}"


class Broken(Exception):
    """Raised inside a walk at the first fault; becomes a `LogReport`."""

    def __init__(self, problem: str, *, index: int | None = None, checkpoint: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.index = index
        self.checkpoint = checkpoint


class TreeWalk:
    """Leaves folded in order, checked against checkpoints as their sizes are reached."""

    def __init__(self, checkpoints: Sequence[Checkpoint]) -> None:
        self._border = CompactRange()
        self._pending = sorted(checkpoints, key=lambda c: c.size)
        self._matched = 0
        self.checked = 0

    @property
    def size(self) -> int:
        return self._border.size

    def root(self) -> bytes:
        return self._border.root()

    def add(self, leaf: bytes) -> None:
        self._border.append(leaf)
        while self._pending and self._pending[0].size == self._border.size:
            checkpoint = self._pending.pop(0)
            if checkpoint.root_hash != self._border.root():
                raise Broken(
                    f"entries {self._matched}..{checkpoint.size - 1} do not hash to the root "
                    f"the platform signed for size {checkpoint.size} "
                    "(an entry was edited, deleted, inserted or reordered)",
                    index=self._matched,
                )
            self._matched = checkpoint.size
            self.checked += 1

    def finish(self) -> None:
        """Every checkpoint must have been reached: a shorter log was cut at its end."""
        while self._pending and self._pending[0].size == 0:
            self._pending.pop(0)
            self.checked += 1
        if self._pending:
            beyond = self._pending[0]
            raise Broken(
                f"the log holds {self.size} entries but a signed checkpoint commits to "
                f"{beyond.size} (entries deleted from the end)",
                index=self.size,
            )


def verified_checkpoints(
    stored: Iterable[StoredCheckpoint], verifiers: Sequence[NoteVerifier], origin: str
) -> list[Checkpoint]:
    """Each stored checkpoint's note, verified and matched with its indexed columns."""
    found = []
    for row in stored:
        try:
            checkpoint = parse_and_verify(row.note, verifiers, origin=origin)
        except IntegrityError as exc:
            raise Broken(f"signature check failed: {exc}", checkpoint=row.size) from None
        if (checkpoint.size, checkpoint.root_hash) != (row.size, row.root_hash):
            raise Broken("the stored row does not match its signed note", checkpoint=row.size)
        found.append(checkpoint)
    return found


def verify_stored_log(
    log: str,
    *,
    head: LogHead | None,
    entries: Iterable[AuditEntry],
    stored_leaves: Iterable[tuple[int, bytes]],
    pruned_below: int,
    checkpoints: Iterable[StoredCheckpoint],
    verifiers: Sequence[NoteVerifier],
    origin: str,
) -> LogReport:
    """The server's self-check of one log, from what the database holds."""
    walk: TreeWalk | None = None
    try:
        walk = TreeWalk(verified_checkpoints(checkpoints, verifiers, origin))
        leaves = _Leaves(stored_leaves)
        for index in range(pruned_below):
            stored = leaves.at(index)
            if stored is None:
                raise Broken("the leaf hash of this retired entry is missing", index=index)
            walk.add(stored)
        expected = pruned_below
        for entry in entries:
            _check_position(entry, log, expected)
            leaf = entry_leaf(entry)
            stored = leaves.at(entry.index)
            if stored is not None and stored != leaf:
                raise Broken(
                    "the entry's content does not match the leaf hash recorded when it was "
                    "appended (entry edited, moved or reordered)",
                    index=entry.index,
                )
            walk.add(leaf)
            expected += 1
        walk.finish()
        _check_head(head, walk)
    except Broken as fault:
        return LogReport(
            log,
            walk.size if walk else 0,
            walk.checked if walk else 0,
            fault.index,
            fault.checkpoint,
            fault.problem,
        )
    return LogReport(log, walk.size, walk.checked)


def _check_position(entry: AuditEntry, log: str, expected: int) -> None:
    if entry.log != log:
        raise Broken(f"the entry belongs to log {entry.log!r}", index=entry.index)
    if entry.index != expected:
        raise Broken("the entry is missing (deleted)", index=expected)


def _check_head(head: LogHead | None, walk: TreeWalk) -> None:
    size = 0 if head is None else head.size
    if walk.size < size:
        raise Broken(
            f"the log ends after {walk.size} entries but its head records {size} "
            "(entries deleted from the end)",
            index=walk.size,
        )
    if walk.size > size:
        raise Broken("the entry lies beyond the log's head (inserted)", index=size)
    if head is not None and head.root != walk.root():
        raise Broken("the log's head does not match its entries", index=max(0, size - 1))


class _Leaves:
    """A sorted stream of (index, hash), read forward as the walk asks for indices."""

    def __init__(self, stream: Iterable[tuple[int, bytes]]) -> None:
        self._stream: Iterator[tuple[int, bytes]] = iter(stream)
        self._next: tuple[int, bytes] | None = next(self._stream, None)

    def at(self, index: int) -> bytes | None:
        while self._next is not None and self._next[0] < index:
            self._next = next(self._stream, None)
        if self._next is not None and self._next[0] == index:
            return self._next[1]
        return None
