"""The log side of the transparency log: an append-only RFC 9162 tree kept in storage.

How the tree is stored. Node ``(level, index)`` is the root of the perfect
subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0
holds the leaf hashes. A node is written once, when its last leaf arrives,
and never changes, so a `NodeStore` is an append-only ``NodeId -> hash`` map
that can live in any database (or as C2SP tlog-tiles, which group the same
nodes in tiles eight levels high and 256 nodes wide). A tree of n leaves stores ``2n - popcount(n)``
nodes of 32 bytes.

Every range the RFC's recursion meets, ``D[start:end]`` with ``start``
aligned to a power of two at least ``end - start`` wide, is the union of at
most ⌈log2 n⌉ perfect subtrees, so its MTH takes that many stored nodes and
no rehashing of leaves. Hence, for n leaves:

* `MerkleTree.append`: O(1) amortised, O(log n) worst case hashes and node
  writes, and no reads (the `CompactRange` keeps the right border);
* `MerkleTree.root` at any past size: O(log n) reads and hashes;
* `MerkleTree.inclusion_proof`, `MerkleTree.consistency_proof`: O(log n)
  reads (at most 2⌈log2 n⌉) and hashes;
* opening a stored tree of n leaves: popcount(n) reads.

A tree has one writer at a time (as the audit chain head is locked); reads
of a past size are safe alongside it because stored nodes never change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qplane.audit.merkle import (
    EMPTY_ROOT,
    ConsistencyProof,
    InclusionProof,
    leaf_hash,
    node_hash,
    split_point,
)
from qplane.domain.errors import IntegrityError


@dataclass(frozen=True, slots=True)
class NodeId:
    """The root of the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int


class NodeStore(Protocol):
    """Append-only storage of the hashes of complete (perfect) subtrees."""

    def node(self, node: NodeId) -> bytes:
        """The hash stored for *node*; `KeyError` if it was never stored."""
        ...

    def add_nodes(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        """Store *nodes*, all or none (one transaction).

        A stored node never changes: a different hash for a stored node
        (a second writer, or one with a stale size) raises `IntegrityError`.
        """
        ...


class InMemoryNodeStore:
    """A `NodeStore` in a dict: for tests, tools and tenants rebuilding a tree offline."""

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}

    def node(self, node: NodeId) -> bytes:
        return self._nodes[node]

    def add_nodes(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        if any(self._nodes.get(node, digest) != digest for node, digest in nodes):
            raise IntegrityError("transparency log storage refuses to change a stored node")
        self._nodes.update(nodes)

    def __len__(self) -> int:
        return len(self._nodes)


class CompactRange:
    """The right border of a tree: the perfect subtrees that cover leaves ``[0, size)``.

    One hash per set bit of *size*, largest (leftmost) first. It is all an
    appender needs: appending a leaf merges it with the border's smallest
    subtrees while they are its left siblings (O(1) amortised hashes), and
    the root is the border folded from the right (O(log n) hashes).
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError("a compact range holds one hash per set bit of its size")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, store: NodeStore, size: int) -> CompactRange:
        """The compact range of the stored tree of *size* leaves (popcount(size) reads)."""
        return cls(size, [_read(store, node) for node in _perfect_cover(0, size)])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Append the leaf hash *leaf*; return the nodes it completed, bottom-up."""
        node, digest = NodeId(0, self._size), leaf
        completed = [(node, digest)]
        while node.index & 1:
            # A right child: its left sibling is the border's smallest subtree.
            digest = node_hash(self._hashes.pop(), digest)
            node = NodeId(node.level + 1, node.index >> 1)
            completed.append((node, digest))
        self._hashes.append(digest)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves ``[0, size)``."""
        return _fold(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)


class MerkleTree:
    """An append-only RFC 9162 tree whose nodes live in a `NodeStore`.

    *size* is the number of leaves already stored (the caller records it
    with its log head); the tree trusts the store for the nodes of that
    range and raises `IntegrityError` when one is missing.
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if size < 0:
            raise ValueError("a tree size is never negative")
        self._store = store
        self._border = CompactRange.load(store, size)

    @property
    def size(self) -> int:
        return self._border.size

    def append(self, entry: bytes) -> int:
        """Append a leaf holding *entry*; return its index."""
        self.extend([entry])
        return self.size - 1

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append leaves holding *entries*, storing their nodes in one `add_nodes` call."""
        border = self._border.copy()
        completed: list[tuple[NodeId, bytes]] = []
        for entry in entries:
            completed.extend(border.append(leaf_hash(entry)))
        self._store.add_nodes(completed)
        self._border = border

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first *size* leaves (default: all of them)."""
        size = self._size_or_current(size)
        if size == self.size:
            return self._border.root()
        return _range_root(self._store, 0, size)

    def inclusion_proof(self, leaf_index: int, tree_size: int | None = None) -> InclusionProof:
        """PATH(leaf_index, D[tree_size]), RFC 9162 §2.1.3.1; `ValueError` for bad arguments."""
        tree_size = self._size_or_current(tree_size)
        if not 0 <= leaf_index < tree_size:
            raise ValueError("the leaf index must be inside the tree")
        siblings: list[bytes] = []
        start, end = 0, tree_size
        while end - start > 1:
            mid = start + split_point(end - start)
            if leaf_index < mid:
                siblings.append(_range_root(self._store, mid, end))
                end = mid
            else:
                siblings.append(_range_root(self._store, start, mid))
                start = mid
        # Collected from the root down; the path runs from the leaf up.
        return InclusionProof(leaf_index, tree_size, tuple(reversed(siblings)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """PROOF(old_size, D[new_size]), RFC 9162 §2.1.4.1; `ValueError` for bad arguments.

        Empty when the sizes are equal or the old tree is empty.
        """
        new_size = self._size_or_current(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError("the old size must be between 0 and the new size")
        if old_size in (0, new_size):
            return ConsistencyProof(old_size, new_size, ())
        siblings: list[bytes] = []
        start, end, old_root_is_known = 0, new_size, True
        # SUBPROOF(m, D[start:end], b) until the old tree's edge is a subtree boundary.
        while old_size != end:
            mid = start + split_point(end - start)
            if old_size <= mid:
                siblings.append(_range_root(self._store, mid, end))
                end = mid
            else:
                siblings.append(_range_root(self._store, start, mid))
                start, old_root_is_known = mid, False
        # The subtree reached is in both trees; the verifier knows it only if it is the old root.
        base = [] if old_root_is_known else [_range_root(self._store, start, end)]
        return ConsistencyProof(old_size, new_size, tuple(base + siblings[::-1]))

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {size}")
        return size


def _perfect_cover(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees covering ``[start, end)``, left to right.

    *start* must be a multiple of a power of two at least ``end - start``
    wide, as in every range of the RFC's recursion: then the cover is one
    subtree per set bit of ``end - start``, largest first.
    """
    nodes: list[NodeId] = []
    width = end - start
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            nodes.append(NodeId(level, start >> level))
            start += 1 << level
    return nodes


def _range_root(store: NodeStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from at most ⌈log2(end - start)⌉ stored nodes."""
    return _fold([_read(store, node) for node in _perfect_cover(start, end)])


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold subtree roots, largest first, from the right: the MTH of their union."""
    if not hashes:
        return EMPTY_ROOT
    digest = hashes[-1]
    for left in reversed(hashes[:-1]):
        digest = node_hash(left, digest)
    return digest


def _read(store: NodeStore, node: NodeId) -> bytes:
    try:
        return store.node(node)
    except KeyError:
        raise IntegrityError(
            f"transparency log storage is missing node {node.level}/{node.index}"
        ) from None
