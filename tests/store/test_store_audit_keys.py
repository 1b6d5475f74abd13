"""Tenants' audit keys: written once, never replaced, even by a racing first use."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from qplane.domain.clock import utcnow
from qplane.domain.ports import SealedArtifact
from qplane.store import Database


def sealed(marker: bytes) -> SealedArtifact:
    return SealedArtifact(1, b"wrapped-" + marker, b"n" * 12, b"ciphertext-" + marker, "ten_a/*")


def test_a_tenant_has_no_audit_key_until_one_is_added(database: Database) -> None:
    with database.unit_of_work() as uow:
        assert uow.audit_keys.get("ten_a") is None
        assert uow.audit_keys.add_if_absent("ten_a", sealed(b"1"), utcnow()) == sealed(b"1")
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.audit_keys.get("ten_a") == sealed(b"1")
        assert uow.audit_keys.get("ten_b") is None


def test_a_second_key_never_replaces_the_first(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.audit_keys.add_if_absent("ten_a", sealed(b"1"), utcnow())
        uow.commit()

    with database.unit_of_work() as uow:
        kept = uow.audit_keys.add_if_absent("ten_a", sealed(b"2"), utcnow())
        uow.commit()

    assert kept == sealed(b"1")


def test_racing_first_uses_both_get_the_key_stored_first(database: Database) -> None:
    """The loser waits for the winner's commit, then reads its key; its own insert is dropped."""
    inserted = threading.Event()

    def first() -> SealedArtifact:
        with database.unit_of_work() as uow:
            stored = uow.audit_keys.add_if_absent("ten_a", sealed(b"1"), utcnow())
            inserted.set()
            time.sleep(0.3)  # the second transaction is now waiting on this one
            uow.commit()
        return stored

    def second() -> SealedArtifact:
        inserted.wait(5)
        with database.unit_of_work() as uow:
            stored = uow.audit_keys.add_if_absent("ten_a", sealed(b"2"), utcnow())
            uow.commit()  # no duplicate-key failure aborts the caller's transaction
        return stored

    with ThreadPoolExecutor(2) as pool:
        winner, loser = pool.submit(first), pool.submit(second)
        assert (winner.result(10), loser.result(10)) == (sealed(b"1"), sealed(b"1"))
