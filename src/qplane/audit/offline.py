"""Verifying an export on the tenant's own machine, trusting nothing the operator says.

`verify_export` reads a ``qplane-audit-export/1`` file (`qplane.audit.export`)
line by line, in one pass and constant memory besides the checkpoints, and
checks, in the file's order:

1. every checkpoint's signature, by the caller's pinned verifier keys (or,
   failing those, the keys the file names, and the report says so), and its
   origin: the log the file claims, under those keys' name;
2. the consistency proof between each pair of consecutive checkpoints, so
   each one extends the one before (the log never rewound or forked between);
3. a pinned checkpoint (a note the tenant saved earlier): the export must
   sign the same root at its size, or recompute it when complete; a pin
   larger than every checkpoint shows the log rewound;
4. every entry: its leaf is recomputed from the canonical JSON of its record
   and checked against its inclusion proof and a checkpoint of the file
   (an OCSF event must also say exactly what its record says);
5. for a complete export, that no entry is missing, and the whole tree
   recomputed from the retired leaves and the entries, against every
   checkpoint's root (`qplane.audit.verify.TreeWalk`).

The report names the first fault in file order: the entry index or the
checkpoint size; a malformed line is reported with its line number. It
never raises for a bad file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qplane.audit import ocsf
from qplane.audit.checkpoint import Checkpoint, parse_and_verify
from qplane.audit.entry import canonical, from_record
from qplane.audit.export import (
    Encoding,
    ExportHeader,
    decode_hash,
    field,
    parse_header,
    parse_line,
    proof_hashes,
)
from qplane.audit.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from qplane.audit.note import NoteVerifier, parse_vkey
from qplane.audit.signing import log_origin
from qplane.audit.verify import Broken, LogReport, TreeWalk
from qplane.domain.errors import IntegrityError


@dataclass(frozen=True, slots=True)
class ExportReport(LogReport):
    """The verdict on an export: a `LogReport`, plus where a malformed file went wrong."""

    #: The line of the first fault, when the file itself is malformed.
    line: int | None = None
    #: False when signatures were checked with the keys the export names (no keys pinned).
    trusted_keys: bool = True

    def describe(self) -> str:
        if not self.ok and self.first_bad_index is None and self.bad_checkpoint is None:
            where = f" at line {self.line}" if self.line is not None else ""
            which = f" of log {self.log}" if self.log else ""
            return f"audit export{which} is broken{where}: {self.problem}"
        text = LogReport.describe(self)
        if self.ok and not self.trusted_keys:
            text += " (checked with the export's own keys: pass pinned keys to trust it)"
        return text


def verify_export(
    lines: Iterable[str | bytes],
    trusted_vkeys: Sequence[str] | None = None,
    pinned_note: str | None = None,
) -> ExportReport:
    """Verify the export *lines*; see the module docstring for what is checked."""
    check = _ExportCheck(trusted_vkeys, pinned_note)
    number: int | None = None
    try:
        for count, raw in enumerate(lines, start=1):
            number = count
            check.line(raw)
        number = None
        check.finish()
    except Broken as fault:
        return check.report(fault, None)
    except IntegrityError as exc:  # a malformed line: name it by its number
        return check.report(Broken(exc.detail), number)
    return check.report(None, None)


class _ExportCheck:
    """The verifier's state as it walks the file."""

    def __init__(self, trusted_vkeys: Sequence[str] | None, pinned_note: str | None) -> None:
        self._trusted = trusted_vkeys
        self._pinned_note = pinned_note
        self._header: ExportHeader | None = None
        self._verifiers: list[NoteVerifier] = []
        self._checkpoints: dict[int, Checkpoint] = {}
        self._last: Checkpoint | None = None
        self._body = False  # past the checkpoint lines
        self._pin: Checkpoint | None = None
        self._walk: TreeWalk | None = None
        self._leaves = 0
        self._next_index = 0
        self._entries = 0

    # -- the walk -------------------------------------------------------------
    def line(self, raw: str | bytes) -> None:
        if not raw.strip():
            return
        item = parse_line(raw)
        kind = item.get("type")
        if self._header is None:
            self._start(item)
        elif kind == "checkpoint" and not self._body:
            self._checkpoint(item)
        elif kind == "leaf":
            self._enter_body()
            self._leaf(item)
        elif kind == "entry" or (self._encoding == "ocsf" and "class_uid" in item):
            self._enter_body()
            self._entry(item)
        else:
            raise IntegrityError(f"unexpected line of type {str(kind)[:40]!r} here")

    def finish(self) -> None:
        if self._header is None:
            raise IntegrityError("the export is empty")
        self._enter_body()
        if self._walk is not None:
            self._require_leaves()
            self._walk.finish()
            self._check_pin_reached()

    def report(self, fault: Broken | None, line: int | None) -> ExportReport:
        log = "" if self._header is None else self._header.log
        checked = len(self._checkpoints) if self._walk is None else self._walk.checked
        trusted = self._trusted is not None
        if fault is None:
            return ExportReport(log, self._entries, checked, trusted_keys=trusted)
        return ExportReport(
            log,
            self._entries,
            checked,
            fault.index,
            fault.checkpoint,
            fault.problem,
            line=line,
            trusted_keys=trusted,
        )

    # -- header and checkpoints -----------------------------------------------
    @property
    def _encoding(self) -> Encoding:
        return "jsonl" if self._header is None else self._header.encoding

    def _start(self, item: dict[str, Any]) -> None:
        header = parse_header(item)
        vkeys = self._trusted if self._trusted is not None else header.vkeys
        try:
            self._verifiers = [parse_vkey(vkey) for vkey in vkeys]
        except IntegrityError as exc:
            raise IntegrityError(f"verifier key: {exc.detail}") from None
        if not self._verifiers:
            raise IntegrityError("no verifier key to check the checkpoints with")
        origins = {log_origin(v.name, header.log) for v in self._verifiers}
        if origins != {header.origin}:
            raise IntegrityError(
                f"the export's origin {header.origin!r} is not log {header.log!r} of these keys"
            )
        self._header = header

    def _checkpoint(self, item: dict[str, Any]) -> None:
        note = field(item, "note", str)
        checkpoint = self._verified(note)
        previous = self._last
        old_size, old_root = (0, EMPTY_ROOT)
        if previous is not None:
            old_size, old_root = previous.size, previous.root_hash
        if checkpoint.size <= old_size and previous is not None:
            raise Broken("checkpoints out of order or repeated", checkpoint=checkpoint.size)
        proof = item.get("consistency")
        if proof is None:
            raise Broken(
                f"no proof that it extends the checkpoint of size {old_size}: "
                "the entries behind it are gone (the log was cut or rewritten)",
                checkpoint=checkpoint.size,
            )
        try:
            verify_consistency(
                old_size=old_size,
                new_size=checkpoint.size,
                old_root=old_root,
                new_root=checkpoint.root_hash,
                proof=proof_hashes(proof),
            )
        except IntegrityError as exc:
            raise Broken(
                f"it does not extend the checkpoint of size {old_size} ({exc.detail}): "
                "the log was rewritten or forked",
                checkpoint=checkpoint.size,
            ) from None
        self._checkpoints[checkpoint.size] = checkpoint
        self._last = checkpoint

    def _verified(self, note: str) -> Checkpoint:
        assert self._header is not None
        try:
            return parse_and_verify(note, self._verifiers, origin=self._header.origin)
        except IntegrityError as exc:
            raise Broken(
                f"signature check failed: {exc.detail}", checkpoint=_claimed_size(note)
            ) from None

    def _enter_body(self) -> None:
        """After the last checkpoint line: hold the pin against them, start the tree walk."""
        if self._body:
            return
        self._body = True
        if self._last is None:
            raise IntegrityError("the export holds no signed checkpoint")
        assert self._header is not None
        if self._pinned_note is not None:
            self._pin = self._pinned()
        if self._header.complete:
            self._walk = TreeWalk(list(self._checkpoints.values()))
        self._next_index = self._header.pruned_below

    def _pinned(self) -> Checkpoint | None:
        """The pin, if it still has to be matched against the recomputed tree."""
        assert self._header is not None
        assert self._last is not None
        assert self._pinned_note is not None
        try:
            pin = parse_and_verify(self._pinned_note, self._verifiers, origin=self._header.origin)
        except IntegrityError as exc:
            raise Broken(f"the pinned checkpoint does not verify: {exc.detail}") from None
        if pin.size > self._last.size:
            raise Broken(
                f"the log rewound: you pinned a checkpoint of size {pin.size}, "
                f"the export's newest is of size {self._last.size}",
                checkpoint=pin.size,
            )
        same_size = self._checkpoints.get(pin.size)
        if same_size is not None:
            if same_size.root_hash != pin.root_hash:
                raise _forked(pin)
            return None
        if not self._header.complete:
            raise Broken(
                "the export signs no checkpoint of the pinned size and is filtered, "
                "so it cannot show the log extends the pin: export the whole log",
                checkpoint=pin.size,
            )
        return pin if pin.size > 0 else None

    # -- leaves and entries ---------------------------------------------------
    def _leaf(self, item: dict[str, Any]) -> None:
        assert self._header is not None
        index = field(item, "index", int)
        if self._walk is None or self._entries or index >= self._header.pruned_below:
            raise IntegrityError("a retired leaf out of place")
        if index != self._leaves:
            raise Broken("the leaf hash of this retired entry is missing", index=self._leaves)
        self._add(decode_hash(field(item, "leaf_hash", str)))
        self._leaves += 1

    def _entry(self, item: dict[str, Any]) -> None:
        assert self._header is not None
        record, inclusion = self._evidence(item)
        index = record.get("index")
        named = index if isinstance(index, int) and not isinstance(index, bool) else None
        try:
            entry = from_record(record)
        except IntegrityError as exc:
            raise Broken(exc.detail, index=named) from None
        if self._encoding == "ocsf" and ocsf.event(record, inclusion) != item:
            raise Broken("the OCSF fields do not say what the signed record says", index=named)
        if entry.log != self._header.log:
            raise Broken(f"the entry belongs to log {entry.log!r}", index=entry.index)
        self._check_order(entry.index)
        leaf = leaf_hash(canonical(record))
        self._check_inclusion(entry.index, leaf, inclusion)
        if self._walk is not None:
            self._add(leaf)
        self._entries += 1

    def _evidence(self, item: dict[str, Any]) -> tuple[dict[str, Any], object]:
        if self._encoding == "ocsf":
            return ocsf.evidence(item)
        record = item.get("entry")
        if not isinstance(record, dict):
            raise IntegrityError("an entry line without its record")
        return record, item.get("inclusion")

    def _check_order(self, index: int) -> None:
        if self._walk is not None:
            self._require_leaves()
            if index > self._next_index:
                raise Broken("the entry is missing (deleted)", index=self._next_index)
        if index < self._next_index:
            raise Broken("the entry is repeated or out of order", index=index)
        self._next_index = index + 1

    def _check_inclusion(self, index: int, leaf: bytes, inclusion: object) -> None:
        if inclusion is None:
            raise Broken("the export carries no proof that this entry is in the log", index=index)
        try:
            if not isinstance(inclusion, dict):
                raise IntegrityError("an object expected")
            tree_size = field(inclusion, "tree_size", int)
            hashes = proof_hashes(inclusion.get("hashes"))
        except IntegrityError as exc:
            raise Broken(f"malformed inclusion proof: {exc.detail}", index=index) from None
        checkpoint = self._checkpoints.get(tree_size)
        if checkpoint is None:
            raise Broken(
                f"its proof is for tree size {tree_size}, which no checkpoint signs", index=index
            )
        try:
            verify_inclusion(
                leaf_hash=leaf,
                leaf_index=index,
                tree_size=tree_size,
                proof=hashes,
                root=checkpoint.root_hash,
            )
        except IntegrityError as exc:
            raise Broken(
                f"the entry is not in the log the platform signed ({exc.detail}): "
                "it was edited, moved, reordered or inserted",
                index=index,
            ) from None

    def _require_leaves(self) -> None:
        assert self._header is not None
        if self._leaves < self._header.pruned_below:
            raise Broken("the leaf hash of this retired entry is missing", index=self._leaves)

    def _add(self, leaf: bytes) -> None:
        assert self._walk is not None
        self._walk.add(leaf)
        if self._pin is not None and self._walk.size == self._pin.size:
            if self._walk.root() != self._pin.root_hash:
                raise _forked(self._pin)
            self._pin = None

    def _check_pin_reached(self) -> None:
        if self._pin is not None:
            raise Broken("the export ends before the pinned checkpoint", checkpoint=self._pin.size)


def _forked(pin: Checkpoint) -> Broken:
    return Broken(
        f"the log forked: the pinned checkpoint of size {pin.size} has another root "
        "than this log at that size",
        checkpoint=pin.size,
    )


def _claimed_size(note: str) -> int | None:
    """The tree size a note claims before its signature is known to be good (to name it)."""
    lines = note.split("\n")
    size = lines[1] if len(lines) > 1 else ""
    return int(size) if size.isdigit() and len(size) < 20 else None
