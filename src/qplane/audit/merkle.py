"""RFC 9162 Merkle tree hashing, and the offline verification of its proofs.

This is the part of the transparency log that a tenant runs on its own
machine: given a signed tree head (`qplane.audit.checkpoint`), it checks that
an audit entry is in the log (an inclusion proof) and that today's log
extends the one it saw yesterday without rewriting it (a consistency proof).
It depends on nothing but `hashlib`, so it can be vendored as it is.

Hashing is exactly that of RFC 9162 §2.1.1 (identical to RFC 6962 §2.1),
with SHA-256::

    MTH({})      = SHA-256()
    MTH({d0})    = SHA-256(0x00 || d0)                        leaf hash
    MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node hash
                   where k is the largest power of two smaller than n

The verifiers follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
(consistency) step by step; the comments carry the RFC's step numbers.
Beyond the RFC they reject hashes that are not 32 bytes long, and define the
cases the RFC leaves out of §2.1.4.2 (``old_size == new_size`` and
``old_size == 0``) as transparency-dev/merkle does, except that an empty old
tree must have the empty tree's root.

Security property: every verifier returns ``None`` or raises
`IntegrityError`; there is no "partially verified". Note what a proof does
*not* authenticate: the tree size. A proof recomputes a root from a shape
that the size determines, and a few other sizes can share that shape, so a
proof must always be checked against a root *and size* that come together
from a verified signed checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from qplane.domain.errors import IntegrityError

HASH_BYTES: Final = 32
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
#: MTH of the empty tree: the SHA-256 of the empty string.
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the hash of a leaf holding *entry*."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than *n* (``n >= 2``): where MTH splits ``D[n]``."""
    if n < 2:
        raise ValueError("only a tree of two or more leaves is split")
    return 1 << ((n - 1).bit_length() - 1)


def merkle_tree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves whose hashes are *leaf_hashes*, by the RFC's recursive definition.

    O(n) hashes: the reference against which the stored tree is tested, and
    the way to hash a small batch from scratch.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = split_point(len(leaf_hashes))
    return node_hash(merkle_tree_hash(leaf_hashes[:k]), merkle_tree_hash(leaf_hashes[k:]))


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """The audit path of leaf *leaf_index* in the tree of *tree_size* leaves (RFC 9162 §2.1.3).

    ``hashes`` runs from the leaf's sibling up to the child of the root.
    """

    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def verify(self, leaf: bytes, root: bytes) -> None:
        """`verify_inclusion` for this proof and the leaf hash *leaf*."""
        verify_inclusion(
            leaf_hash=leaf,
            leaf_index=self.leaf_index,
            tree_size=self.tree_size,
            proof=self.hashes,
            root=root,
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The proof that the tree of *new_size* leaves extends that of *old_size* (§2.1.4)."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        """`verify_consistency` for this proof and the two roots."""
        verify_consistency(
            old_size=self.old_size,
            new_size=self.new_size,
            old_root=old_root,
            new_root=new_root,
            proof=self.hashes,
        )


def verify_inclusion(
    *, leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if *proof* shows the leaf *leaf_hash* at *leaf_index* in the tree with *root*.

    RFC 9162 §2.1.3.2. Raises `IntegrityError` otherwise, including for an
    index outside the tree, hashes of the wrong length, and a proof with
    elements missing or left over.
    """
    _check_hashes(leaf_hash, root, *proof)
    # 1. leaf_index must be smaller than tree_size.
    if not 0 <= leaf_index < tree_size:
        raise IntegrityError("inclusion proof failed: leaf index is outside the tree")
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    # 4. For each p in the inclusion path:
    for p in proof:
        # a. sn == 0 means the path is longer than the tree is high.
        if sn == 0:
            raise IntegrityError("inclusion proof failed: the proof is too long")
        # b. A left sibling when fn is a right child or the last node of its level.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # ii. Skip the levels where the node has no right sibling.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        # c. Up one level.
        fn, sn = fn >> 1, sn >> 1
    # 5. The path must end at the root, and r must be the root hash.
    if sn != 0:
        raise IntegrityError("inclusion proof failed: the proof is too short")
    if r != root:
        raise IntegrityError("inclusion proof failed: the root does not match")


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Return if *proof* shows the tree (*new_size*, *new_root*) extends (*old_size*, *old_root*).

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Equal sizes need an
    empty proof and equal roots; an empty old tree needs an empty proof and
    the empty tree's root. Raises `IntegrityError` in every other case.
    """
    _check_hashes(old_root, new_root, *proof)
    if not 0 <= old_size <= new_size:
        raise IntegrityError("consistency proof failed: the old tree is larger than the new")
    if old_size in (0, new_size):
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    # 1. An empty proof cannot link two different sizes.
    if not proof:
        raise IntegrityError("consistency proof failed: the proof is empty")
    # 2. When the old tree is a perfect subtree, its root is the proof's first node.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. Climb to the old tree's last perfect subtree.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. fr = sr = the first node.
    fr = sr = path[0]
    # 6. For each subsequent node c:
    for c in path[1:]:
        # a. sn == 0 means the proof is longer than the new tree is high.
        if sn == 0:
            raise IntegrityError("consistency proof failed: the proof is too long")
        # b. A left sibling: it is in both trees.
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            # ii. Skip the levels where the node has no right sibling.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            # A right sibling: only in the new tree.
            sr = node_hash(sr, c)
        # c. Up one level.
        fn, sn = fn >> 1, sn >> 1
    # 7. Both roots recomputed, and the proof reached the new root.
    if sn != 0:
        raise IntegrityError("consistency proof failed: the proof is too short")
    if fr != old_root or sr != new_root:
        raise IntegrityError("consistency proof failed: the roots do not match")


def _verify_trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    if proof:
        raise IntegrityError("consistency proof failed: expected an empty proof")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise IntegrityError("consistency proof failed: the empty tree has another root")
    if old_size == new_size and old_root != new_root:
        raise IntegrityError("consistency proof failed: the roots do not match")


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_BYTES for h in hashes):
        raise IntegrityError(f"proof failed: every hash must be {HASH_BYTES} bytes")
