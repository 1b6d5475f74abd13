"""The transparency log's Merkle tree: RFC 9162 hashing, proofs and their verification.

Known answers come from the Certificate Transparency project's reference
tree of eight leaves, published in two places and copied here verbatim:

* google/certificate-transparency, ``cpp/merkletree/merkle_tree_test.cc``
  (commit 0e901cacd1388fa16f78b184612f6cd16e5ceec1): ``kInputs``,
  ``kSHA256Roots``, ``kSHA256Paths`` and ``kSHA256Proofs``. Leaves are
  numbered from 1 there; here they are 0-based indices.
* transparency-dev/merkle, ``proof/verify_test.go`` (commit
  02194e9afb6c1d95b5381350007963aa70fff472): the same vectors, the extra
  consistency proof 6 → 7, and the corruptions of ``corruptInclusionProof``
  and ``corruptConsistencyProof`` that a verifier must reject.

The properties then pin down the rest, for random trees of distinct leaves:
generated proofs equal the RFC's recursive definitions and verify; every
change to the leaf, index, size, roots or any proof element is rejected;
a rewritten history has no consistency proof; appending in any batches
gives the root computed from scratch; and proof generation reads O(log n)
stored nodes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qplane.audit.merkle import (
    EMPTY_ROOT,
    ConsistencyProof,
    InclusionProof,
    leaf_hash,
    merkle_tree_hash,
    split_point,
    verify_consistency,
    verify_inclusion,
)
from qplane.audit.merkle_tree import CompactRange, InMemoryNodeStore, MerkleTree, NodeId
from qplane.domain.errors import IntegrityError

h = bytes.fromhex

INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
SHA256_EMPTY = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# (0-based leaf index, tree size, audit path)
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (old size, new size, consistency proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def _tree(entries: Sequence[bytes]) -> MerkleTree:
    tree = MerkleTree(InMemoryNodeStore())
    tree.extend(entries)
    return tree


@pytest.fixture(scope="module")
def reference_tree() -> MerkleTree:
    return _tree(INPUTS)


def _rejects(check: Callable[[], None]) -> bool:
    try:
        check()
    except IntegrityError:
        return True
    return False


def _inclusion_ok(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    return not _rejects(
        lambda: verify_inclusion(
            leaf_hash=leaf, leaf_index=index, tree_size=size, proof=proof, root=root
        )
    )


def _consistency_ok(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    return not _rejects(
        lambda: verify_consistency(
            old_size=old_size,
            new_size=new_size,
            old_root=old_root,
            new_root=new_root,
            proof=proof,
        )
    )


# -- Published vectors -------------------------------------------------------------------------


def test_the_empty_tree_hashes_to_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == SHA256_EMPTY
    assert MerkleTree(InMemoryNodeStore()).root() == SHA256_EMPTY
    assert merkle_tree_hash([]) == SHA256_EMPTY


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_tree_at_every_size(size: int) -> None:
    grown = MerkleTree(InMemoryNodeStore())
    for entry in INPUTS[:size]:
        grown.append(entry)
    assert grown.root() == ROOTS[size - 1]
    assert merkle_tree_hash([leaf_hash(e) for e in INPUTS[:size]]) == ROOTS[size - 1]


def test_a_stored_tree_answers_roots_of_its_past_sizes(reference_tree: MerkleTree) -> None:
    assert [reference_tree.root(size) for size in range(1, 9)] == ROOTS
    assert reference_tree.root(0) == SHA256_EMPTY


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_vectors_and_verify(
    reference_tree: MerkleTree, index: int, size: int, path: list[bytes]
) -> None:
    proof = reference_tree.inclusion_proof(index, size)
    assert proof == InclusionProof(index, size, tuple(path))
    proof.verify(leaf_hash(INPUTS[index]), ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS[1:])
def test_every_published_corruption_of_an_inclusion_proof_is_rejected(
    index: int, size: int, path: list[bytes]
) -> None:
    leaf, root = leaf_hash(INPUTS[index]), ROOTS[size - 1]
    probes = {
        "leafIndex - 1": (leaf, index - 1, size, path, root),
        "leafIndex + 1": (leaf, index + 1, size, path, root),
        "leafIndex ^ 2": (leaf, index ^ 2, size, path, root),
        "treeSize * 2": (leaf, index, size * 2, path, root),
        "treeSize / 2": (leaf, index, size // 2, path, root),
        "wrong leaf": (leaf_hash(b"WrongLeaf"), index, size, path, root),
        "empty root": (leaf, index, size, path, SHA256_EMPTY),
        "random root": (leaf, index, size, path, SOME_HASH),
        "trailing garbage": (leaf, index, size, [*path, b""], root),
        "trailing root": (leaf, index, size, [*path, root], root),
        "preceding garbage": (leaf, index, size, [b"", *path], root),
        "preceding root": (leaf, index, size, [root, *path], root),
        "removed component": (leaf, index, size, path[:-1], root),
    }
    if len(path) > 1:
        probes["inserted component"] = (leaf, index, size, [path[0], SOME_HASH, *path[1:]], root)
    for i in range(len(path)):
        flipped = [*path]
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes[f"modified proof[{i}] bit 3"] = (leaf, index, size, flipped, root)
    accepted = [name for name, args in probes.items() if _inclusion_ok(*args)]
    assert accepted == []


def test_published_invalid_inclusion_parameters_are_rejected() -> None:
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert not _inclusion_ok(SOME_HASH, index, size, [], SHA256_EMPTY)
    single = leaf_hash(b"data")
    assert _inclusion_ok(single, 0, 1, [], single)
    assert not _inclusion_ok(single, 0, 1, [], b"")
    assert not _inclusion_ok(b"", 0, 1, [], single)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_vectors_and_verify(
    reference_tree: MerkleTree, old: int, new: int, path: list[bytes]
) -> None:
    proof = reference_tree.consistency_proof(old, new)
    assert proof == ConsistencyProof(old, new, tuple(path))
    proof.verify(ROOTS[old - 1], ROOTS[new - 1])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS[1:])
def test_every_published_corruption_of_a_consistency_proof_is_rejected(
    old: int, new: int, path: list[bytes]
) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = {
        "size1 - 1": (old - 1, new, r1, r2, path),
        "size1 + 1": (old + 1, new, r1, r2, path),
        "size1 ^ 2": (old ^ 2, new, r1, r2, path),
        "size2 * 2": (old, new * 2, r1, r2, path),
        "size2 / 2": (old, new // 2, r1, r2, path),
        "wrong root1": (old, new, SOME_HASH, r2, path),
        "wrong root2": (old, new, r1, SOME_HASH, path),
        "swapped roots": (old, new, r2, r1, path),
        "empty proof": (old, new, r1, r2, []),
        "trailing garbage": (old, new, r1, r2, [*path, b""]),
        "trailing root1": (old, new, r1, r2, [*path, r1]),
        "trailing root2": (old, new, r1, r2, [*path, r2]),
        "preceding garbage": (old, new, r1, r2, [b"", *path]),
        "preceding root1": (old, new, r1, r2, [r1, *path]),
        "preceding root2": (old, new, r1, r2, [r2, *path]),
        "preceding proof[0]": (old, new, r1, r2, [path[0], *path]),
        "truncated proof": (old, new, r1, r2, path[:-1]),
    }
    for i in range(len(path)):
        flipped = [*path]
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes[f"modified proof[{i}] bit 4"] = (old, new, r1, r2, flipped)
    accepted = [name for name, args in probes.items() if _consistency_ok(*args)]
    assert accepted == []


def test_sizes_that_are_always_consistent_need_an_empty_proof_and_matching_roots() -> None:
    r1, r2 = ROOTS[0], ROOTS[1]
    assert _consistency_ok(0, 0, SHA256_EMPTY, SHA256_EMPTY, [])
    assert _consistency_ok(0, 1, SHA256_EMPTY, r1, [])
    assert _consistency_ok(1, 1, r1, r1, [])
    # Time travel, an empty proof between different sizes, mismatched roots.
    assert not _consistency_ok(1, 0, r1, SHA256_EMPTY, [])
    assert not _consistency_ok(2, 1, r2, r1, [])
    assert not _consistency_ok(1, 2, r1, r2, [])
    assert not _consistency_ok(1, 1, r1, r2, [])
    assert not _consistency_ok(0, 0, SHA256_EMPTY, r2, [])
    # Stricter than transparency-dev/merkle: an empty old tree has the empty tree's root.
    assert not _consistency_ok(0, 1, r1, r1, [])
    # Roots match but the proof is not empty.
    assert not _consistency_ok(0, 0, SHA256_EMPTY, SHA256_EMPTY, [SHA256_EMPTY])
    assert not _consistency_ok(0, 1, SHA256_EMPTY, r1, [SHA256_EMPTY])
    assert not _consistency_ok(1, 1, r1, r1, [SHA256_EMPTY])


def test_hashes_of_the_wrong_length_are_rejected_before_any_hashing() -> None:
    path = INCLUSION_VECTORS[3][2]
    assert not _inclusion_ok(leaf_hash(INPUTS[2]), 2, 3, [path[0][:31]], ROOTS[2])
    assert not _inclusion_ok(leaf_hash(INPUTS[2]) + b"\x00", 2, 3, path, ROOTS[2])
    assert not _consistency_ok(1, 1, ROOTS[0][:16], ROOTS[0][:16], [])


# -- The RFC's definitions, as the reference for random trees -----------------------------------


def _path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 §2.1.3.1, recursively."""
    if len(hashes) == 1:
        return []
    k = split_point(len(hashes))
    if index < k:
        return [*_path(index, hashes[:k]), merkle_tree_hash(hashes[k:])]
    return [*_path(index - k, hashes[k:]), merkle_tree_hash(hashes[:k])]


def _subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1, recursively."""
    if m == len(hashes):
        return [] if complete else [merkle_tree_hash(hashes)]
    k = split_point(len(hashes))
    if m <= k:
        return [*_subproof(m, hashes[:k], complete), merkle_tree_hash(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), merkle_tree_hash(hashes[:k])]


def _shape(index: int, size: int) -> list[bool]:
    """For each audit path element, leaf first: is the sibling on the left?"""
    if size == 1:
        return []
    k = split_point(size)
    if index < k:
        return [*_shape(index, k), False]
    return [*_shape(index - k, size - k), True]


def _entries(salt: bytes, size: int) -> list[bytes]:
    """*size* distinct entries: distinct leaves keep one leaf from standing in for another."""
    return [salt + i.to_bytes(4, "big") for i in range(size)]


def _flip(hashes: Sequence[bytes], element: int, bit: int) -> list[bytes]:
    flipped = list(hashes)
    target = bytearray(flipped[element])
    target[bit // 8] ^= 1 << (bit % 8)
    flipped[element] = bytes(target)
    return flipped


@st.composite
def _tree_and_leaf(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(1, 160))
    return _entries(draw(st.binary(max_size=8)), size), draw(st.integers(0, size - 1))


@st.composite
def _tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    total = draw(st.integers(1, 160))
    new = draw(st.integers(1, total))
    old = draw(st.integers(1, new))
    return _entries(draw(st.binary(max_size=8)), total), old, new


# -- Inclusion properties ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(case=_tree_and_leaf())
def test_inclusion_proofs_follow_the_rfc_and_verify(case: tuple[list[bytes], int]) -> None:
    entries, index = case
    hashes = [leaf_hash(e) for e in entries]
    tree = _tree(entries)
    proof = tree.inclusion_proof(index)
    assert list(proof.hashes) == _path(index, hashes)
    proof.verify(hashes[index], tree.root())


@settings(max_examples=100, deadline=None)
@given(case=_tree_and_leaf(), data=st.data())
def test_any_change_to_an_inclusion_proof_is_rejected(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    entries, index = case
    size, tree = len(entries), _tree(entries)
    root, leaf = tree.root(), leaf_hash(entries[index])
    path = list(tree.inclusion_proof(index).hashes)

    other_leaf = data.draw(st.sampled_from([*range(size), size]).filter(lambda j: j != index))
    wrong = leaf_hash(entries[other_leaf]) if other_leaf < size else leaf_hash(b"not logged")
    assert not _inclusion_ok(wrong, index, size, path, root)
    for other_index in [*range(size + 2), -1]:
        if other_index != index:
            assert not _inclusion_ok(leaf, other_index, size, path, root)
    if path:
        element = data.draw(st.integers(0, len(path) - 1))
        bit = data.draw(st.integers(0, 255))
        assert not _inclusion_ok(leaf, index, size, _flip(path, element, bit), root)
        assert not _inclusion_ok(leaf, index, size, path[:element] + path[element + 1 :], root)
    extra = data.draw(st.binary(min_size=32, max_size=32))
    position = data.draw(st.integers(0, len(path)))
    assert not _inclusion_ok(leaf, index, size, [*path[:position], extra, *path[position:]], root)


@settings(max_examples=100, deadline=None)
@given(case=_tree_and_leaf(), data=st.data())
def test_an_inclusion_proof_does_not_verify_under_another_tree_head(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    entries, index = case
    size = len(entries)
    longer = _tree(entries + _entries(b"more", size + 2))
    leaf, path = leaf_hash(entries[index]), list(longer.inclusion_proof(index, size).hashes)
    other_size = data.draw(st.integers(index + 1, 2 * size + 2).filter(lambda n: n != size))
    # Against the tree head of the claimed size: always rejected.
    assert not _inclusion_ok(leaf, index, other_size, path, longer.root(other_size))
    # Against the proof's own root, a size is told apart exactly when it changes the
    # path's shape: why a verifier must take root and size from one signed checkpoint.
    same_shape = _shape(index, other_size) == _shape(index, size)
    assert _inclusion_ok(leaf, index, other_size, path, longer.root(size)) == same_shape


# -- Consistency properties ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(case=_tree_and_sizes())
def test_consistency_proofs_follow_the_rfc_and_verify(case: tuple[list[bytes], int, int]) -> None:
    entries, old, new = case
    hashes = [leaf_hash(e) for e in entries]
    tree = _tree(entries)
    proof = tree.consistency_proof(old, new)
    assert list(proof.hashes) == _subproof(old, hashes[:new], True)
    proof.verify(tree.root(old), tree.root(new))


@settings(max_examples=100, deadline=None)
@given(case=_tree_and_sizes(), data=st.data())
def test_any_change_to_a_consistency_proof_is_rejected(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    entries, old, new = case
    tree = _tree(entries)
    r1, r2 = tree.root(old), tree.root(new)
    path = list(tree.consistency_proof(old, new).hashes)

    assert not _consistency_ok(old, new, leaf_hash(b"other"), r2, path)
    assert not _consistency_ok(old, new, r1, leaf_hash(b"other"), path)
    if path:
        element = data.draw(st.integers(0, len(path) - 1))
        bit = data.draw(st.integers(0, 255))
        assert not _consistency_ok(old, new, r1, r2, _flip(path, element, bit))
        assert not _consistency_ok(old, new, r1, r2, path[:element] + path[element + 1 :])
    extra = data.draw(st.sampled_from([r1, r2, leaf_hash(b"x"), *path]))
    position = data.draw(st.integers(0, len(path)))
    assert not _consistency_ok(old, new, r1, r2, [*path[:position], extra, *path[position:]])


@settings(max_examples=100, deadline=None)
@given(case=_tree_and_sizes(), data=st.data())
def test_a_consistency_proof_verifies_for_other_sizes_only_if_it_is_their_proof(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    entries, old, new = case
    hashes = [leaf_hash(e) for e in entries]
    tree = _tree(entries)
    path = list(tree.consistency_proof(old, new).hashes)
    other_new = data.draw(st.integers(0, len(entries)))
    other_old = data.draw(st.integers(0, other_new))
    proof_of_claim = _subproof(other_old, hashes[:other_new], True) if other_old else []
    verifies = _consistency_ok(
        other_old, other_new, tree.root(other_old), tree.root(other_new), path
    )
    assert verifies == (path == proof_of_claim)


@settings(max_examples=100, deadline=None)
@given(case=_tree_and_sizes(), data=st.data())
def test_a_rewritten_history_is_not_consistent_with_the_old_tree_head(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    entries, old, new = case
    honest = _tree(entries)
    rewritten_at = data.draw(st.integers(0, old - 1))
    forged_entries = [*entries]
    forged_entries[rewritten_at] = b"rewritten " + entries[rewritten_at]
    forged = _tree(forged_entries)
    old_root = honest.root(old)
    for proof in (forged.consistency_proof(old, new), honest.consistency_proof(old, new)):
        assert not _consistency_ok(old, new, old_root, forged.root(new), list(proof.hashes))


# -- Appending and storage -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(st.binary(max_size=40), max_size=150),
    cuts=st.lists(st.integers(0, 150), max_size=8),
)
def test_appending_in_any_batches_gives_the_root_computed_from_scratch(
    entries: list[bytes], cuts: list[int]
) -> None:
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    bounds = sorted({0, len(entries), *(c for c in cuts if c <= len(entries))})
    for start, end in itertools.pairwise(bounds):
        tree.extend(entries[start:end])
        assert tree.root() == merkle_tree_hash([leaf_hash(e) for e in entries[:end]])
    assert len(store) == 2 * len(entries) - len(entries).bit_count()
    reopened = MerkleTree(store, len(entries))
    assert reopened.root() == tree.root()
    reopened.append(b"next")
    assert reopened.root() == merkle_tree_hash([leaf_hash(e) for e in [*entries, b"next"]])


def test_the_compact_range_is_the_right_border_of_the_tree() -> None:
    store, border = InMemoryNodeStore(), CompactRange()
    for i in range(37):
        store.add_nodes(border.append(leaf_hash(i.to_bytes(2, "big"))))
    assert border.size == 37  # 0b100101: subtrees of 32, 4 and 1 leaves
    assert border.hashes == tuple(
        store.node(n) for n in (NodeId(5, 0), NodeId(2, 8), NodeId(0, 36))
    )
    assert CompactRange.load(store, 37).root() == border.root() == MerkleTree(store, 37).root()
    with pytest.raises(ValueError, match="one hash per set bit"):
        CompactRange(3, [SOME_HASH])


class _CountingStore:
    """Invents a hash for any node, and counts reads: a log of any size without building it."""

    def __init__(self) -> None:
        self.reads = 0

    def node(self, node: NodeId) -> bytes:
        self.reads += 1
        return leaf_hash(f"{node.level}/{node.index}".encode())

    def add_nodes(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        raise AssertionError("read-only")


@pytest.mark.parametrize("size", [10**6, 2**20, 2**20 - 1, 999_983])
def test_proofs_for_a_million_leaves_read_only_logarithmically_many_nodes(size: int) -> None:
    store = _CountingStore()
    tree = MerkleTree(store, size)
    bound = 2 * size.bit_length()
    for index in (0, 1, size // 3, size - 2, size - 1):
        store.reads = 0
        tree.inclusion_proof(index)
        assert store.reads <= bound
    for old in (1, size // 2 + 1, size - 1):
        store.reads = 0
        tree.consistency_proof(old)
        assert store.reads <= bound
    store.reads = 0
    tree.root(size - 12345)
    assert store.reads <= size.bit_length()


def test_a_missing_stored_node_is_an_integrity_error() -> None:
    class ForgetfulStore(InMemoryNodeStore):
        def node(self, node: NodeId) -> bytes:
            if node == NodeId(1, 1):
                raise KeyError(node)
            return super().node(node)

    store = ForgetfulStore()
    MerkleTree(store).extend(INPUTS)
    tree = MerkleTree(store, 8)  # the border of 8 leaves is the single node 3/0
    assert tree.root() == ROOTS[7]
    with pytest.raises(IntegrityError, match="missing node 1/1"):
        tree.inclusion_proof(0)
    with pytest.raises(IntegrityError, match="missing node"):
        MerkleTree(InMemoryNodeStore(), 8)


def test_a_writer_with_a_stale_size_cannot_change_stored_nodes() -> None:
    store = InMemoryNodeStore()
    MerkleTree(store).extend(INPUTS)
    stale = MerkleTree(store, 5)
    with pytest.raises(IntegrityError, match="refuses to change"):
        stale.append(b"a different sixth entry")
    assert (stale.size, stale.root()) == (5, ROOTS[4])
    assert MerkleTree(store, 8).root() == ROOTS[7]


def test_a_failed_write_leaves_the_tree_unchanged() -> None:
    class FailingStore(InMemoryNodeStore):
        def add_nodes(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
            raise OSError("disk full")

    tree = MerkleTree(FailingStore())
    with pytest.raises(OSError, match="disk full"):
        tree.extend(INPUTS)
    assert (tree.size, tree.root()) == (0, SHA256_EMPTY)


def test_proofs_are_asked_for_inside_the_tree_only(reference_tree: MerkleTree) -> None:
    with pytest.raises(ValueError, match="leaf index"):
        reference_tree.inclusion_proof(8)
    with pytest.raises(ValueError, match="leaf index"):
        reference_tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError, match="not 9"):
        reference_tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="old size"):
        reference_tree.consistency_proof(5, 4)
    with pytest.raises(ValueError, match="not 9"):
        reference_tree.root(9)
    assert reference_tree.consistency_proof(0, 5) == ConsistencyProof(0, 5, ())
    assert reference_tree.consistency_proof(3, 3) == ConsistencyProof(3, 3, ())
