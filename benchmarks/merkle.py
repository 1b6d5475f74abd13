"""How the audit log's Merkle tree scales: proofs must grow with log n, not n. Prints JSON.

For trees of 10^3, 10^5 and 10^6 leaves (node store in memory, so this
measures the algorithms, not a database), it reports the time to append
every leaf, the time and the number of stored nodes read to build an
inclusion proof and a consistency proof (mean over random indices and
sizes), the time to verify each, and the time to recompute the root from
scratch per 10^5 entries (what a full offline verification costs).

Appends inside database transactions are not measured here: the log is
not stored in the database yet (issue 6).

Usage: python benchmarks/merkle.py [--sizes 1000,100000,1000000] [--proofs N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import platform as host
import random
import statistics
import time
from collections.abc import Sequence

from qplane.audit.merkle import leaf_hash, merkle_tree_hash
from qplane.audit.merkle_tree import InMemoryNodeStore, MerkleTree, NodeId


class CountingStore(InMemoryNodeStore):
    """The in-memory store, counting reads: proofs must read O(log n) nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def node(self, node: NodeId) -> bytes:
        self.reads += 1
        return super().node(node)


def _entry(index: int) -> bytes:
    return b"audit-entry-%d" % index


def _measure(size: int, proofs: int, rng: random.Random) -> dict[str, object]:
    store = CountingStore()
    tree = MerkleTree(store)
    started = time.perf_counter()
    for index in range(size):
        tree.append(_entry(index))
    append_s = time.perf_counter() - started
    root = tree.root()

    inclusion_s, inclusion_reads, verify_inclusion_s = [], [], []
    for _ in range(proofs):
        index = rng.randrange(size)
        store.reads = 0
        t0 = time.perf_counter()
        proof = tree.inclusion_proof(index)
        inclusion_s.append(time.perf_counter() - t0)
        inclusion_reads.append(store.reads)
        t0 = time.perf_counter()
        proof.verify(leaf_hash(_entry(index)), root)
        verify_inclusion_s.append(time.perf_counter() - t0)

    consistency_s, consistency_reads, verify_consistency_s = [], [], []
    for _ in range(proofs):
        old = rng.randrange(1, size + 1)
        old_root = tree.root(old)
        store.reads = 0
        t0 = time.perf_counter()
        consistency = tree.consistency_proof(old)
        consistency_s.append(time.perf_counter() - t0)
        consistency_reads.append(store.reads)
        t0 = time.perf_counter()
        consistency.verify(old_root, root)
        verify_consistency_s.append(time.perf_counter() - t0)

    return {
        "leaves": size,
        "appends_per_s": round(size / append_s),
        "inclusion_proof": _summary(inclusion_s, inclusion_reads),
        "inclusion_verify_us_mean": _us(statistics.fmean(verify_inclusion_s)),
        "consistency_proof": _summary(consistency_s, consistency_reads),
        "consistency_verify_us_mean": _us(statistics.fmean(verify_consistency_s)),
    }


def _summary(seconds: Sequence[float], reads: Sequence[int]) -> dict[str, object]:
    return {
        "us_mean": _us(statistics.fmean(seconds)),
        "us_p99": _us(sorted(seconds)[int(len(seconds) * 0.99) - 1]),
        "node_reads_max": max(reads),
    }


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def _full_verification_s_per_100k() -> float:
    """Recompute the root of 10^5 entries from the entries themselves."""
    leaves = [leaf_hash(_entry(index)) for index in range(100_000)]
    started = time.perf_counter()
    merkle_tree_hash(leaves)
    hashing = time.perf_counter() - started
    started = time.perf_counter()
    for index in range(100_000):
        leaf_hash(_entry(index))
    return round(hashing + (time.perf_counter() - started), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        json.dumps(
            {
                "benchmark": "merkle",
                "machine": {
                    "python": host.python_version(),
                    "system": host.platform(),
                },
                "trees": [_measure(size, args.proofs, rng) for size in sizes],
                "full_verification_s_per_100k_entries": _full_verification_s_per_100k(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
