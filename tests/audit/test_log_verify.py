"""The verifier walk: recompute the tree, hold it against signed checkpoints, name the fault."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.entry import entry_leaf
from qplane.audit.merkle import merkle_tree_hash
from qplane.audit.merkle_tree import CompactRange
from qplane.audit.note import Ed25519NoteSigner
from qplane.audit.signing import CheckpointKeys, log_origin
from qplane.audit.verify import LogReport, verify_stored_log
from qplane.domain.audit import AuditEntry, LogHead, Outcome, StoredCheckpoint

T0 = datetime(2026, 11, 25, tzinfo=UTC)
ORIGIN = "audit.example"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> CheckpointKeys:
    return CheckpointKeys.load_or_create(tmp_path_factory.mktemp("keys"), ORIGIN)


def entries(n: int) -> list[AuditEntry]:
    return [
        AuditEntry(
            log="ten_a",
            index=i,
            at=T0 + timedelta(seconds=i),
            clock="test",
            action="job.submitted",
            outcome=Outcome.SUCCESS,
            tenant_id="ten_a",
            actor_id="usr_1",
            target=f"job_{i}",
        )
        for i in range(n)
    ]


def head_of(items: list[AuditEntry]) -> LogHead:
    border = CompactRange()
    for item in items:
        border.append(entry_leaf(item))
    return LogHead("ten_a", border.size, border.hashes, border.root())


def checkpoint(items: list[AuditEntry], size: int, keys: CheckpointKeys) -> StoredCheckpoint:
    root = merkle_tree_hash([entry_leaf(e) for e in items[:size]])
    note = sign_checkpoint(log_origin(ORIGIN, "ten_a"), size, root, keys.signers, timestamp=T0)
    return StoredCheckpoint("ten_a", size, root, T0, note)


def verify(
    keys: CheckpointKeys,
    items: list[AuditEntry],
    *,
    head: LogHead | None,
    checkpoints: list[StoredCheckpoint],
    leaves: list[tuple[int, bytes]] | None = None,
    pruned_below: int = 0,
) -> LogReport:
    return verify_stored_log(
        "ten_a",
        head=head,
        entries=items,
        stored_leaves=leaves or [],
        pruned_below=pruned_below,
        checkpoints=checkpoints,
        verifiers=keys.verifiers,
        origin=log_origin(ORIGIN, "ten_a"),
    )


def test_an_intact_log_verifies(keys: CheckpointKeys) -> None:
    items = entries(13)
    report = verify(
        keys, items, head=head_of(items), checkpoints=[checkpoint(items, s, keys) for s in (5, 13)]
    )
    assert report == LogReport("ten_a", 13, 2)
    assert report.describe() == "audit log ten_a intact: 13 entries, 2 signed checkpoints"


def test_an_edited_entry_is_named_by_its_stored_leaf(keys: CheckpointKeys) -> None:
    items = entries(10)
    leaves = [(e.index, entry_leaf(e)) for e in items]
    items[6] = replace(items[6], outcome=Outcome.DENIED)
    report = verify(
        keys,
        items,
        head=head_of(entries(10)),
        checkpoints=[checkpoint(entries(10), 10, keys)],
        leaves=leaves,
    )
    assert report.first_bad_index == 6
    assert "edited" in (report.problem or "")


def test_without_stored_leaves_the_first_unproven_range_is_named(keys: CheckpointKeys) -> None:
    original = entries(10)
    items = [*original]
    items[7] = replace(items[7], actor_id="usr_2")
    report = verify(
        keys,
        items,
        head=None,
        checkpoints=[checkpoint(original, s, keys) for s in (4, 10)],
    )
    assert (report.first_bad_index, report.ok) == (4, False)
    assert "entries 4..9" in (report.problem or "")


def test_a_missing_entry_is_named(keys: CheckpointKeys) -> None:
    items = entries(8)
    report = verify(keys, items[:3] + items[4:], head=head_of(items), checkpoints=[])
    assert report.first_bad_index == 3
    assert "missing" in (report.problem or "")


def test_a_cut_tail_is_caught_by_the_head_and_by_the_last_checkpoint(
    keys: CheckpointKeys,
) -> None:
    items = entries(8)
    by_head = verify(keys, items[:6], head=head_of(items), checkpoints=[])
    assert by_head.first_bad_index == 6
    # A careful attacker moves the head back too; the signed checkpoint still says 8.
    by_checkpoint = verify(
        keys, items[:6], head=head_of(items[:6]), checkpoints=[checkpoint(items, 8, keys)]
    )
    assert by_checkpoint.first_bad_index == 6
    assert "deleted from the end" in (by_checkpoint.problem or "")


def test_an_entry_beyond_the_head_is_inserted(keys: CheckpointKeys) -> None:
    items = entries(5)
    report = verify(keys, items, head=head_of(items[:4]), checkpoints=[])
    assert report.first_bad_index == 4


def test_a_checkpoint_signed_by_another_key_is_named(keys: CheckpointKeys) -> None:
    items = entries(6)
    forger = Ed25519NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
    root = merkle_tree_hash([entry_leaf(e) for e in items])
    note = sign_checkpoint(log_origin(ORIGIN, "ten_a"), 6, root, [forger], timestamp=T0)
    report = verify(
        keys,
        items,
        head=head_of(items),
        checkpoints=[checkpoint(items, 3, keys), StoredCheckpoint("ten_a", 6, root, T0, note)],
    )
    assert (report.bad_checkpoint, report.first_bad_index) == (6, None)
    assert "checkpoint of size 6" in report.describe()


def test_a_checkpoint_row_that_disagrees_with_its_note_is_named(keys: CheckpointKeys) -> None:
    items = entries(6)
    honest = checkpoint(items, 6, keys)
    report = verify(
        keys, items, head=head_of(items), checkpoints=[replace(honest, root_hash=b"\x00" * 32)]
    )
    assert report.bad_checkpoint == 6


def test_another_logs_checkpoint_cannot_stand_in(keys: CheckpointKeys) -> None:
    items = entries(4)
    root = merkle_tree_hash([entry_leaf(e) for e in items])
    note = sign_checkpoint(log_origin(ORIGIN, "ten_b"), 4, root, keys.signers, timestamp=T0)
    report = verify(
        keys, items, head=head_of(items), checkpoints=[StoredCheckpoint("ten_a", 4, root, T0, note)]
    )
    assert report.bad_checkpoint == 4


def test_a_pruned_prefix_verifies_from_its_kept_leaves(keys: CheckpointKeys) -> None:
    items = entries(9)
    leaves = [(e.index, entry_leaf(e)) for e in items]
    report = verify(
        keys,
        items[4:],
        head=head_of(items),
        checkpoints=[checkpoint(items, 9, keys)],
        leaves=leaves,
        pruned_below=4,
    )
    assert report.ok
    lost = verify(
        keys,
        items[4:],
        head=head_of(items),
        checkpoints=[],
        leaves=leaves[:2] + leaves[3:],
        pruned_below=4,
    )
    assert lost.first_bad_index == 2


def test_an_entry_of_another_log_is_named(keys: CheckpointKeys, tmp_path: Path) -> None:
    items = entries(3)
    items[1] = replace(items[1], log="ten_b")
    assert verify(keys, items, head=None, checkpoints=[]).first_bad_index == 1
