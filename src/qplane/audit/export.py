"""The audit log as a file that proves itself: JSON Lines, ``qplane-audit-export/1``.

One JSON object per line, in this order::

    {"type": "log", "format": "qplane-audit-export/1", "log": …, "origin": …, "vkeys": […],
     "complete": true, "pruned_below": 0, "encoding": "jsonl", "exported_at": "…Z"}
    {"type": "checkpoint", "note": "<C2SP signed note>", "consistency": [b64, …]}
    {"type": "leaf", "index": 0, "leaf_hash": b64}
    {"type": "entry", "entry": {…}, "inclusion": {"tree_size": N, "hashes": [b64, …]}}

* every stored checkpoint, smallest first, each with the RFC 9162
  consistency proof that it extends the checkpoint on the line before (the
  first one: from the empty tree, an empty proof);
* for a complete export whose oldest entries were retired by retention, the
  leaf hash of each retired entry, so the whole tree can still be recomputed;
* every entry below the export's tree size N (a filtered export: the
  matching ones only, ``"complete": false``), as the canonical record its
  leaf hashes (`qplane.audit.entry`), with its inclusion proof against the
  checkpoint of size N. The ``ocsf`` encoding writes each entry as an OCSF
  API Activity event carrying the same record and proof (`qplane.audit.ocsf`).

N is the largest checkpoint no larger than the log's head, so every entry
written is covered by a signed checkpoint (the exporter signs one first).
A proof that the stored tree cannot give (nodes missing: the log was cut
behind a checkpoint) is written as ``null``: the file states what the
database holds, and the offline verifier (`qplane.audit.offline`) judges it.
The writer reads in batches, one short unit of work each, so a slow reader
never holds a database transaction open.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Final, Literal

from qplane.audit import ocsf
from qplane.audit.entry import rfc3339, to_record
from qplane.audit.merkle_tree import MerkleTree, NodeId
from qplane.audit.stored_nodes import StoredNodes
from qplane.domain.audit import AuditEntry, StoredCheckpoint
from qplane.domain.clock import utcnow
from qplane.domain.errors import IntegrityError
from qplane.domain.ports import AuditQuery, AuditRepository, UnitOfWorkFactory

FORMAT: Final = "qplane-audit-export/1"
Encoding = Literal["jsonl", "ocsf"]
ENCODINGS: Final[tuple[Encoding, ...]] = ("jsonl", "ocsf")
#: The longest line a reader accepts (a checkpoint with composite signatures is ~10 kB).
MAX_LINE: Final = 1 << 21
#: Rows read per unit of work.
BATCH: Final = 1000
_SEARCH_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class ExportHeader:
    """The first line: which log, whose keys, and how much of the log follows."""

    log: str
    origin: str
    vkeys: tuple[str, ...]
    complete: bool
    pruned_below: int
    encoding: Encoding
    exported_at: str

    def line(self) -> str:
        return dumps(
            {
                "type": "log",
                "format": FORMAT,
                "log": self.log,
                "origin": self.origin,
                "vkeys": list(self.vkeys),
                "complete": self.complete,
                "pruned_below": self.pruned_below,
                "encoding": self.encoding,
                "exported_at": self.exported_at,
            }
        )


def dumps(item: dict[str, Any]) -> str:
    """One export line (without its newline): compact, sorted, ASCII."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def is_filtered(query: AuditQuery | None) -> bool:
    """Whether *query* narrows the log (anything set besides the log itself)."""
    if query is None:
        return False
    return any(getattr(query, f.name) is not None for f in fields(query) if f.name != "log")


def inclusion_json(tree_size: int, hashes: Sequence[bytes]) -> dict[str, Any]:
    return {"tree_size": tree_size, "hashes": [b64(h) for h in hashes]}


def entry_line(record: dict[str, Any], inclusion: dict[str, Any] | None, encoding: Encoding) -> str:
    if encoding == "ocsf":
        return dumps(ocsf.event(record, inclusion))
    return dumps({"type": "entry", "entry": record, "inclusion": inclusion})


# -- reading lines back (the offline verifier) ------------------------------------------
def parse_line(raw: str | bytes) -> dict[str, Any]:
    """One line as a JSON object; `IntegrityError` for anything else (never another error)."""
    if len(raw) > MAX_LINE:
        raise IntegrityError("line too long")
    try:
        item = json.loads(raw)
    except (ValueError, RecursionError):
        raise IntegrityError("not JSON") from None
    if not isinstance(item, dict):
        raise IntegrityError("not a JSON object")
    return item


def parse_header(item: dict[str, Any]) -> ExportHeader:
    """The header a first line states; `IntegrityError` unless it is a well-formed one."""
    if item.get("type") != "log":
        raise IntegrityError("the first line must describe the log")
    if item.get("format") != FORMAT:
        raise IntegrityError(f"not a {FORMAT} file")
    vkeys = field(item, "vkeys", list)
    encoding = item.get("encoding", "jsonl")
    pruned_below = field(item, "pruned_below", int)
    if not all(isinstance(v, str) for v in vkeys) or encoding not in ENCODINGS or pruned_below < 0:
        raise IntegrityError("malformed header")
    return ExportHeader(
        log=field(item, "log", str),
        origin=field(item, "origin", str),
        vkeys=tuple(vkeys),
        complete=field(item, "complete", bool),
        pruned_below=pruned_below,
        encoding=encoding,
        exported_at=field(item, "exported_at", str),
    )


def field(item: dict[str, Any], name: str, kind: type[Any]) -> Any:
    """*item*'s *name*, which must be a *kind* (a bool is not an int here)."""
    value = item.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise IntegrityError(f"malformed line: {name!r} missing or not a {kind.__name__}")
    return value


def proof_hashes(value: object) -> list[bytes]:
    if not isinstance(value, list):
        raise IntegrityError("malformed proof: a list of hashes expected")
    return [decode_hash(h) for h in value]


def decode_hash(value: object) -> bytes:
    if not isinstance(value, str):
        raise IntegrityError("malformed hash: base64 text expected")
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("malformed hash: not base64") from None
    if len(digest) != 32:
        raise IntegrityError("malformed hash: not 32 bytes")
    return digest


# -- writing ----------------------------------------------------------------------------
def describe_export(query: AuditQuery | None, encoding: Encoding) -> str:
    """What was exported, for its audit entry: the encoding and any filter (ids and names only)."""
    if query is None or not is_filtered(query):
        return f"{encoding} export of the whole log"
    narrowed = [
        f"{f.name}={getattr(query, f.name)}"
        for f in fields(query)
        if f.name != "log" and getattr(query, f.name) is not None
    ]
    return f"{encoding} export of entries with {', '.join(narrowed)}"[:1000]


def write_export(
    uow_factory: UnitOfWorkFactory,
    log: str,
    *,
    origin: str,
    vkeys: Sequence[str],
    query: AuditQuery | None = None,
    encoding: Encoding = "jsonl",
) -> Iterator[str]:
    """The export lines of *log* as the database holds it now (without newlines).

    *query* (its ``log`` is ignored) narrows the entries; the checkpoints
    are always all there. Authorisation is the caller's business.
    """
    return _Writer(uow_factory, log, encoding).lines(origin, vkeys, query)


@dataclass(frozen=True, slots=True)
class _Plan:
    checkpoints: list[StoredCheckpoint]
    #: The tree size the inclusion proofs are against.
    tree_size: int
    pruned_below: int


class _Writer:
    def __init__(self, uow_factory: UnitOfWorkFactory, log: str, encoding: Encoding) -> None:
        self._uow = uow_factory
        self._log = log
        self._encoding = encoding

    def lines(self, origin: str, vkeys: Sequence[str], query: AuditQuery | None) -> Iterator[str]:
        plan = self._plan()
        filtered = is_filtered(query)
        header = ExportHeader(
            self._log,
            origin,
            tuple(vkeys),
            complete=not filtered,
            pruned_below=plan.pruned_below,
            encoding=self._encoding,
            exported_at=rfc3339(utcnow()),
        )
        yield header.line()
        yield from self._checkpoint_lines(plan)
        if query is not None and filtered:
            yield from self._entry_lines(plan, self._matching(plan, query))
            return
        yield from self._leaf_lines(plan)
        yield from self._entry_lines(plan, self._all_entries(plan))

    def _plan(self) -> _Plan:
        with self._uow() as uow:
            # Checkpoints before the head: none read can be larger than the head read after.
            checkpoints = uow.audit.checkpoints(self._log)
            head = uow.audit.head(self._log)
            pruned_below = uow.audit.pruned_below(self._log)
        size = 0 if head is None else head.size
        covered = [c.size for c in checkpoints if c.size <= size]
        return _Plan(checkpoints, max(covered, default=0), pruned_below)

    def _checkpoint_lines(self, plan: _Plan) -> Iterator[str]:
        previous = 0
        for start in range(0, len(plan.checkpoints), BATCH):
            batch = plan.checkpoints[start : start + BATCH]
            lines = []
            with self._uow() as uow:
                for checkpoint in batch:
                    proof = _consistency(uow.audit, self._log, previous, checkpoint.size)
                    lines.append(
                        dumps({"type": "checkpoint", "note": checkpoint.note, "consistency": proof})
                    )
                    previous = checkpoint.size
            yield from lines

    def _leaf_lines(self, plan: _Plan) -> Iterator[str]:
        for start in range(0, plan.pruned_below, BATCH):
            with self._uow() as uow:
                stop = min(start + BATCH, plan.pruned_below)
                leaves = list(uow.audit.leaf_hashes(self._log, start, stop))
            for index, digest in leaves:
                yield dumps({"type": "leaf", "index": index, "leaf_hash": b64(digest)})

    def _all_entries(self, plan: _Plan) -> Iterator[list[AuditEntry]]:
        for start in range(plan.pruned_below, plan.tree_size, BATCH):
            with self._uow() as uow:
                stop = min(start + BATCH, plan.tree_size)
                batch = list(uow.audit.entries(self._log, start, stop))
            yield batch

    def _matching(self, plan: _Plan, query: AuditQuery) -> Iterator[list[AuditEntry]]:
        """The entries the search API would return for *query*, oldest first, in batches."""
        found: list[AuditEntry] = []
        cursor: str | None = None
        narrowed = replace(query, log=self._log)
        while True:
            with self._uow() as uow:
                page = uow.audit.search(narrowed, _SEARCH_PAGE, cursor)
            found.extend(e for e in page.items if plan.pruned_below <= e.index < plan.tree_size)
            cursor = page.next_cursor
            if cursor is None:
                break
        found.sort(key=lambda e: e.index)
        for start in range(0, len(found), BATCH):
            yield found[start : start + BATCH]

    def _entry_lines(self, plan: _Plan, batches: Iterator[list[AuditEntry]]) -> Iterator[str]:
        for batch in batches:
            if not batch:
                continue
            with self._uow() as uow:
                proofs = _inclusions(uow.audit, self._log, plan.tree_size, batch)
            for entry, proof in zip(batch, proofs, strict=True):
                yield entry_line(to_record(entry), proof, self._encoding)


def _consistency(audit: AuditRepository, log: str, old: int, new: int) -> list[str] | None:
    """The consistency proof old → new from the stored nodes; None where they are missing."""
    try:
        tree = MerkleTree(StoredNodes(audit, log), new)
        return [b64(h) for h in tree.consistency_proof(old, new).hashes]
    except (IntegrityError, ValueError):
        return None


def _inclusions(
    audit: AuditRepository, log: str, tree_size: int, batch: list[AuditEntry]
) -> list[dict[str, Any] | None]:
    """Each entry's inclusion proof in the tree of *tree_size*; None where nodes are missing."""
    first, last = batch[0].index, batch[-1].index
    # Prefetch the leaves of a run of neighbours only (a filtered batch may span the log).
    span = range(first, min(last + 2, tree_size)) if last - first < 2 * len(batch) else None
    nodes = _BatchNodes(audit, log, span)
    try:
        tree = MerkleTree(nodes, tree_size)
    except IntegrityError:
        return [None] * len(batch)
    proofs: list[dict[str, Any] | None] = []
    for entry in batch:
        try:
            proof = tree.inclusion_proof(entry.index, tree_size)
        except (IntegrityError, ValueError):
            proofs.append(None)
            continue
        proofs.append(inclusion_json(tree_size, proof.hashes))
    return proofs


class _BatchNodes:
    """Stored nodes for one batch of proofs: its leaf hashes in one query, other nodes once each.

    Proofs of neighbouring leaves share most of their nodes, so a batch of
    consecutive leaves costs about one read per leaf instead of log n.
    """

    def __init__(self, audit: AuditRepository, log: str, leaves: range | None) -> None:
        self._audit = audit
        self._log = log
        self._cache: dict[NodeId, bytes] = {}
        if leaves is not None:
            first = leaves.start - (leaves.start & 1)  # the left sibling of the first leaf
            self._cache.update(
                (NodeId(0, index), digest)
                for index, digest in audit.leaf_hashes(log, first, leaves.stop)
            )

    def node(self, node: NodeId) -> bytes:
        digest = self._cache.get(node)
        if digest is None:
            digest = self._cache[node] = self._audit.node(self._log, node.level, node.index)
        return digest

    def add_nodes(self, nodes: object) -> None:
        raise TypeError("an export never writes to the audit tree")
