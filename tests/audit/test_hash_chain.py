"""A chain names the first entry that was edited, deleted, inserted or reordered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from qplane.audit.chain import GENESIS_HASH, entry_hash
from qplane.audit.verify import verify_chain
from qplane.domain.audit import AuditEntry, AuditEvent, Outcome

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _chain(n: int, chain: str = "ten_x") -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        event = AuditEvent(f"job.step{seq}", Outcome.SUCCESS, chain, "usr_1", f"job_{seq}")
        at = T0 + timedelta(seconds=seq)
        digest = entry_hash(chain=chain, seq=seq, at=at, event=event, prev_hash=prev)
        entries.append(
            AuditEntry(
                seq,
                chain,
                at,
                event.action,
                event.outcome,
                event.tenant_id,
                event.actor_id,
                event.target,
                None,
                None,
                prev,
                digest,
            )
        )
        prev = digest
    return entries


def test_an_untouched_chain_verifies() -> None:
    report = verify_chain("ten_x", _chain(5))
    assert report.ok
    assert report.entries == 5


def test_an_empty_chain_verifies() -> None:
    assert verify_chain("ten_x", []).ok


def test_an_edited_entry_is_named() -> None:
    entries = _chain(5)
    entries[2] = replace(entries[2], outcome=Outcome.DENIED)
    report = verify_chain("ten_x", entries)
    assert (report.first_bad_seq, report.ok) == (3, False)
    assert "edited" in (report.problem or "")


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = _chain(5)
    forged = replace(entries[1], target="job_forged")
    event = AuditEvent(
        forged.action, forged.outcome, forged.tenant_id, forged.actor_id, forged.target
    )
    entries[1] = replace(
        forged,
        entry_hash=entry_hash(
            chain="ten_x", seq=2, at=forged.at, event=event, prev_hash=forged.prev_hash
        ),
    )
    assert verify_chain("ten_x", entries).first_bad_seq == 3


def test_a_deleted_entry_is_named() -> None:
    entries = _chain(5)
    del entries[1]
    assert verify_chain("ten_x", entries).first_bad_seq == 3


def test_reordered_entries_are_named() -> None:
    entries = _chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    assert verify_chain("ten_x", entries).first_bad_seq == 3


def test_an_inserted_entry_is_named() -> None:
    entries = _chain(5)
    entries.insert(2, replace(entries[2], seq=3))
    report = verify_chain("ten_x", entries)
    assert not report.ok
    assert report.first_bad_seq in {3, 4}


def test_an_entry_moved_from_another_chain_is_named() -> None:
    entries = _chain(3)
    entries[1] = _chain(3, "ten_y")[1]
    assert verify_chain("ten_x", entries).first_bad_seq == 2
