"""The audit log's storage: heads that serialise appenders, immutable nodes, streaming,
checkpoints, retention and one-log search."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from qplane.audit.entry import entry_leaf
from qplane.audit.merkle_tree import CompactRange
from qplane.domain.audit import AuditEntry, LogHead, Outcome, StoredCheckpoint
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.ports import AuditQuery

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def entry(log: str, index: int, **fields) -> AuditEntry:
    values = {
        "at": T0 + timedelta(seconds=index),
        "clock": "test",
        "action": "job.submit",
        "outcome": Outcome.SUCCESS,
        "tenant_id": log,
        "actor_id": "usr_alice",
        "target": f"job_{index}",
        "request_id": f"req-{index}",
        "job_id": f"job_{index}",
        "backend": "aer",
        "policy_ids": ("baseline.member",),
        "correlations": (("circuit", "hmac-sha256:" + "ab" * 32),),
    }
    values.update(fields)
    return AuditEntry(log=log, index=index, **values)


def append(uow, item: AuditEntry) -> LogHead:
    """Append as `qplane.audit.log.record` does: nodes and head from the stored border."""
    head = uow.audit.head_for_update(item.log)
    border = CompactRange() if head is None else CompactRange(head.size, head.border)
    nodes = [(n.level, n.index, h) for n, h in border.append(entry_leaf(item))]
    new_head = LogHead(item.log, border.size, border.hashes, border.root())
    uow.audit.append(item, nodes, new_head)
    return new_head


def append_all(database, *entries: AuditEntry) -> None:
    with database.unit_of_work() as uow:
        for item in entries:
            append(uow, item)
        uow.commit()


def test_an_empty_log_has_no_head(database) -> None:
    with database.unit_of_work() as uow:
        assert uow.audit.head_for_update("ten_a") is None
        assert uow.audit.logs() == []


def test_append_moves_the_head_and_keeps_the_nodes(database) -> None:
    append_all(database, *[entry("ten_a", i) for i in range(3)])
    with database.unit_of_work() as uow:
        head = uow.audit.head_for_update("ten_a")
        assert head is not None
        assert head.size == 3
        assert len(head.border) == 2  # the subtrees [0, 2) and [2, 3)
        assert uow.audit.node("ten_a", 1, 0) == head.border[0]
        assert uow.audit.node("ten_a", 0, 2) == entry_leaf(entry("ten_a", 2))
        with pytest.raises(KeyError):
            uow.audit.node("ten_a", 0, 3)
        assert uow.audit.head_for_update("ten_b") is None


def test_an_entry_can_only_be_the_next_leaf(database) -> None:
    append_all(database, entry("ten_a", 0), entry("ten_a", 1))
    with database.unit_of_work() as uow:
        head = uow.audit.head_for_update("ten_a")
        assert head is not None
        with pytest.raises(Conflict, match="out of sequence"):
            uow.audit.append(entry("ten_a", 5), [], replace(head, size=6))
        with pytest.raises(Conflict, match="already exists"):
            uow.audit.append(entry("ten_a", 0), [], replace(head, size=1))
        append(uow, entry("ten_a", 2))  # the transaction is still usable
        assert uow.audit.head_for_update("ten_a").size == 3


def test_a_stale_head_cannot_overwrite_a_leaf(database) -> None:
    append_all(database, entry("ten_a", 0))
    with database.unit_of_work() as uow, pytest.raises(Conflict):
        uow.audit.append(entry("ten_a", 0, action="forged"), [], LogHead("ten_a", 1, (), b""))


def test_entries_stream_in_index_order(database) -> None:
    entries = [entry("ten_a", i) for i in range(1100)]  # more than one streaming batch
    append_all(database, *entries, *[entry("ten_b", i) for i in range(3)])
    with database.unit_of_work() as uow:
        assert list(uow.audit.entries("ten_a")) == entries
        assert [e.index for e in uow.audit.entries("ten_a", 1098)] == [1098, 1099]
        assert [e.index for e in uow.audit.entries("ten_b")] == [0, 1, 2]
        assert list(uow.audit.entries("nobody")) == []
        assert [i for i, _ in uow.audit.leaf_hashes("ten_b", 1, 3)] == [1, 2]
        assert uow.audit.logs() == ["ten_a", "ten_b"]


def test_appenders_to_an_empty_log_take_turns(database) -> None:
    seen: list[int | None] = []
    with database.unit_of_work() as first:
        assert first.audit.head_for_update("ten_a") is None
        append(first, entry("ten_a", 0))

        def second_appender() -> None:
            with database.unit_of_work() as second:
                head = second.audit.head_for_update("ten_a")
                seen.append(None if head is None else head.size)

        thread = threading.Thread(target=second_appender)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()  # waiting for the first appender's transaction
        first.commit()
    thread.join(timeout=10)
    assert seen == [1]  # it saw the first appender's entry, not an empty log


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_a_locked_log_head_makes_other_appenders_wait(database, impatient) -> None:
    append_all(database, entry("ten_a", 0))
    with database.unit_of_work() as first:
        first.audit.head_for_update("ten_a")
        with impatient.unit_of_work() as second, pytest.raises(OperationalError, match="lock"):
            second.audit.head_for_update("ten_a")


def test_checkpoints_are_kept_once_per_size(database) -> None:
    append_all(database, *[entry("ten_a", i) for i in range(3)])
    first = StoredCheckpoint("ten_a", 2, b"\x01" * 32, T0, "note 2\n")
    second = StoredCheckpoint("ten_a", 3, b"\x02" * 32, T0, "note 3\n")
    with database.unit_of_work() as uow:
        uow.audit.add_checkpoint(second)
        uow.audit.add_checkpoint(first)
        uow.commit()
    with database.unit_of_work() as uow, pytest.raises(Conflict):
        uow.audit.add_checkpoint(replace(first, note="another\n"))
    with database.unit_of_work() as uow:
        assert uow.audit.checkpoints("ten_a") == [first, second]
        assert uow.audit.checkpoints("ten_a", min_size=3) == [second]
        assert uow.audit.latest_checkpoint("ten_a") == second
        assert uow.audit.checkpoint_at_or_below("ten_a", 2) == first
        assert uow.audit.checkpoint("ten_a", 1) is None
        assert uow.audit.latest_checkpoint("ten_b") is None


def test_pruning_removes_old_entries_but_keeps_their_leaves(database) -> None:
    append_all(database, *[entry("ten_a", i) for i in range(5)])
    with database.unit_of_work() as uow:
        assert uow.audit.first_index_at_or_after("ten_a", T0 + timedelta(seconds=2)) == 2
        assert uow.audit.prune("ten_a", 2) == 2
        uow.commit()
    with database.unit_of_work() as uow:
        assert [e.index for e in uow.audit.entries("ten_a")] == [2, 3, 4]
        assert [i for i, _ in uow.audit.leaf_hashes("ten_a", 0, 5)] == [0, 1, 2, 3, 4]
        assert uow.audit.pruned_below("ten_a") == 2
        uow.audit.prune("ten_a", 1)  # the mark never moves back
        assert uow.audit.pruned_below("ten_a") == 2


def search(database, query: AuditQuery, limit: int = 50, cursor: str | None = None):
    with database.unit_of_work() as uow:
        return uow.audit.search(query, limit, cursor)


def test_search_reads_one_log_newest_first(database) -> None:
    append_all(database, *[entry("ten_a", i) for i in range(3)], entry("ten_b", 0))
    page = search(database, AuditQuery(log="ten_a"))
    assert [e.index for e in page.items] == [2, 1, 0]
    assert page.next_cursor is None
    assert search(database, AuditQuery(log="ten_c")).items == []


def test_search_pages_cover_every_entry_once_even_at_equal_times(database) -> None:
    same = T0 + timedelta(hours=1)
    append_all(database, *[entry("ten_a", i, at=same) for i in range(5)])
    seen, cursor = [], None
    while True:
        page = search(database, AuditQuery(log="ten_a"), limit=2, cursor=cursor)
        seen.extend(e.index for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [4, 3, 2, 1, 0]


def test_a_cursor_of_another_log_reads_nothing(database) -> None:
    append_all(database, *[entry("ten_a", i) for i in range(3)], entry("ten_b", 0))
    cursor = search(database, AuditQuery(log="ten_a"), limit=1).next_cursor
    assert search(database, AuditQuery(log="ten_b"), cursor=cursor).items == []


@pytest.mark.parametrize(
    ("query", "indices"),
    [
        (AuditQuery("ten_a", actor_id="usr_bob"), [3]),
        (AuditQuery("ten_a", workload_id="svc_ci"), [5]),
        (AuditQuery("ten_a", action="job.cancel"), [2]),
        (AuditQuery("ten_a", outcome=Outcome.DENIED), [1]),
        (AuditQuery("ten_a", decision="deny"), [1]),
        (AuditQuery("ten_a", job_id="job_0"), [0]),
        (AuditQuery("ten_a", backend="ionq-sim"), [4]),
        (AuditQuery("ten_a", target="job_0"), [0]),
        (AuditQuery("ten_a", since=T0 + timedelta(seconds=4)), [5, 4]),
        (AuditQuery("ten_a", until=T0 + timedelta(seconds=1)), [0]),
        (
            AuditQuery("ten_a", since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3)),
            [2, 1],
        ),
    ],
    ids=[
        "user",
        "workload",
        "action",
        "outcome",
        "decision",
        "job",
        "backend",
        "target",
        "since",
        "until",
        "window",
    ],
)
def test_search_filters_combine(database, query: AuditQuery, indices: list[int]) -> None:
    append_all(
        database,
        entry("ten_a", 0),
        entry("ten_a", 1, outcome=Outcome.DENIED, decision="deny"),
        entry("ten_a", 2, action="job.cancel"),
        entry("ten_a", 3, actor_id="usr_bob"),
        entry("ten_a", 4, backend="ionq-sim"),
        entry("ten_a", 5, actor_id="svc_ci", actor_kind="service"),
    )
    assert [e.index for e in search(database, query).items] == indices


def test_illegal_audit_cursor_is_a_validation_error(database) -> None:
    with pytest.raises(ValidationFailed, match="cursor"):
        search(database, AuditQuery("ten_a"), cursor="%%%")
