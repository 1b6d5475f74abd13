"""The audit log's storage: chain heads, ordered streaming, and tenant-scoped search."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.ports import AuditQuery

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def entry(chain: str, seq: int, **fields) -> AuditEntry:
    values = {
        "at": T0 + timedelta(seconds=seq),
        "action": "job.submit",
        "outcome": Outcome.SUCCESS,
        "tenant_id": chain,
        "actor_id": "usr_alice",
        "target": f"job_{seq}",
        "request_id": f"req-{seq}",
        "detail": None,
        "prev_hash": f"{seq - 1:064x}",
        "entry_hash": f"{seq:064x}",
    }
    values.update(fields)
    return AuditEntry(seq=seq, chain=chain, **values)


def append_all(database, *entries: AuditEntry) -> None:
    with database.unit_of_work() as uow:
        for item in entries:
            uow.audit.append(item)
        uow.commit()


def test_empty_chain_has_no_head(database) -> None:
    with database.unit_of_work() as uow:
        assert uow.audit.head_for_update("ten_a") is None
        assert uow.audit.chains() == []


def test_append_moves_the_head(database) -> None:
    append_all(database, entry("ten_a", 0), entry("ten_a", 1))
    with database.unit_of_work() as uow:
        assert uow.audit.head_for_update("ten_a") == (1, f"{1:064x}")
        assert uow.audit.head_for_update("ten_b") is None


def test_entry_can_only_be_appended_after_the_head(database) -> None:
    append_all(database, entry("ten_a", 1), entry("ten_a", 2))
    with database.unit_of_work() as uow:
        with pytest.raises(Conflict, match="already exists"):
            uow.audit.append(entry("ten_a", 2, entry_hash="f" * 64))
        with pytest.raises(Conflict, match="out of sequence"):
            uow.audit.append(entry("ten_a", 0))
        uow.audit.append(entry("ten_a", 3))  # the transaction is still usable
        assert uow.audit.head_for_update("ten_a") == (3, f"{3:064x}")


def test_chain_streams_every_entry_in_sequence_order(database) -> None:
    entries = [entry("ten_a", seq) for seq in range(600)]  # more than one streaming batch
    append_all(database, *entries, *[entry("ten_b", seq) for seq in range(3)])
    with database.unit_of_work() as uow:
        assert list(uow.audit.chain("ten_a")) == entries
        assert [e.seq for e in uow.audit.chain("ten_b")] == [0, 1, 2]
        assert list(uow.audit.chain("nobody")) == []
        assert uow.audit.chains() == ["ten_a", "ten_b"]


def test_appenders_to_an_empty_chain_take_turns(database) -> None:
    seen: list[tuple[int, str] | None] = []
    with database.unit_of_work() as first:
        assert first.audit.head_for_update("ten_a") is None
        first.audit.append(entry("ten_a", 0))

        def second_appender() -> None:
            with database.unit_of_work() as second:
                seen.append(second.audit.head_for_update("ten_a"))

        thread = threading.Thread(target=second_appender)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()  # waiting for the first appender's transaction
        first.commit()
    thread.join(timeout=10)
    assert seen == [(0, f"{0:064x}")]  # it saw the first appender's entry, not an empty chain


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_a_locked_chain_head_makes_other_appenders_wait(database, impatient) -> None:
    append_all(database, entry("ten_a", 0))
    with database.unit_of_work() as first:
        first.audit.head_for_update("ten_a")
        with impatient.unit_of_work() as second, pytest.raises(OperationalError, match="lock"):
            second.audit.head_for_update("ten_a")


def search(database, query: AuditQuery, limit: int = 50, cursor: str | None = None):
    with database.unit_of_work() as uow:
        return uow.audit.search(query, limit, cursor)


def test_search_is_scoped_to_one_tenant_newest_first(database) -> None:
    append_all(database, *[entry("ten_a", seq) for seq in range(3)], entry("ten_b", 5))
    page = search(database, AuditQuery(tenant_id="ten_a"))
    assert [e.seq for e in page.items] == [2, 1, 0]
    assert page.next_cursor is None
    assert search(database, AuditQuery(tenant_id="ten_c")).items == []


def test_search_pages_cover_every_entry_once_even_at_equal_times(database) -> None:
    same = T0 + timedelta(hours=1)
    a = [entry("ten_a", seq, at=same) for seq in range(4)]
    platform = [entry("platform", seq, at=same, tenant_id="ten_a") for seq in range(3)]
    append_all(database, *a, *platform)
    seen, cursor = [], None
    while True:
        page = search(database, AuditQuery(tenant_id="ten_a"), limit=2, cursor=cursor)
        seen.extend((e.chain, e.seq) for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = sorted(((e.chain, e.seq) for e in a + platform), reverse=True)
    assert seen == expected


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        (AuditQuery("ten_a", actor_id="usr_bob"), [3]),
        (AuditQuery("ten_a", action="job.cancel"), [2]),
        (AuditQuery("ten_a", outcome=Outcome.DENIED), [1]),
        (AuditQuery("ten_a", target="job_0"), [0]),
        (AuditQuery("ten_a", since=T0 + timedelta(seconds=1)), [3, 2, 1]),
        (AuditQuery("ten_a", until=T0 + timedelta(seconds=1)), [0]),
        (
            AuditQuery("ten_a", since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3)),
            [2, 1],
        ),
    ],
)
def test_search_filters_combine(database, query: AuditQuery, seqs: list[int]) -> None:
    append_all(
        database,
        entry("ten_a", 0),
        entry("ten_a", 1, outcome=Outcome.DENIED),
        entry("ten_a", 2, action="job.cancel"),
        entry("ten_a", 3, actor_id="usr_bob"),
    )
    assert [e.seq for e in search(database, query).items] == seqs


def test_illegal_audit_cursor_is_a_validation_error(database) -> None:
    with pytest.raises(ValidationFailed, match="cursor"):
        search(database, AuditQuery("ten_a"), cursor="%%%")
