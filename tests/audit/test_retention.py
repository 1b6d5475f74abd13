"""Audit retention: old entries lose their content, never their place in the tree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from qplane.audit.log import record
from qplane.audit.retention import AuditRetention
from qplane.audit.service import AuditService
from qplane.audit.signing import CheckpointKeys
from qplane.broker.sweeper import Sweeper
from qplane.config import Settings
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.clock import utcnow
from qplane.store import Database


def add(database: Database, n: int, log: str = "ten_a") -> None:
    with database.unit_of_work() as uow:
        for i in range(n):
            record(uow, AuditEvent("job.submitted", Outcome.SUCCESS, log, "usr_1", f"job_{i}"))
        uow.commit()


@pytest.fixture
def audit(database: Database, tmp_path: Path) -> AuditService:
    return AuditService(database, CheckpointKeys.load_or_create(tmp_path, "audit.test"))


def test_the_default_keeps_entries_seven_years() -> None:
    assert Settings().audit_retention_days == pytest.approx(7 * 365.25)


def test_entries_past_retention_lose_their_content_but_the_log_still_verifies(
    database: Database, audit: AuditService
) -> None:
    add(database, 6)
    audit.sign("ten_a")
    add(database, 2)  # not yet covered by a checkpoint: kept whatever their age
    future = utcnow() + timedelta(days=400)
    removed = AuditRetention(database, 365, clock=lambda: future).prune()
    assert removed == 6
    with database.unit_of_work() as uow:
        left = list(uow.audit.entries("ten_a"))
        assert uow.audit.pruned_below("ten_a") == 6
    assert [e.index for e in left[:2]] == [6, 7]
    assert left[-1].action == "audit.retention"
    assert "below 6" in (left[-1].detail or "")
    assert audit.verify("ten_a").ok
    signed = audit.sign("ten_a")
    assert signed.size == 9
    report = audit.verify("ten_a")
    assert (report.ok, report.entries, report.checkpoints) == (True, 9, 2)


def test_entries_within_retention_stay(database: Database, audit: AuditService) -> None:
    add(database, 3)
    audit.sign("ten_a")
    assert AuditRetention(database, 365).prune() == 0
    with database.unit_of_work() as uow:
        assert len(list(uow.audit.entries("ten_a"))) == 3


def test_a_log_without_a_checkpoint_is_never_pruned(database: Database) -> None:
    add(database, 3)
    future = utcnow() + timedelta(days=400)
    assert AuditRetention(database, 365, clock=lambda: future).prune() == 0


def test_deleting_a_kept_leaf_of_a_pruned_entry_is_detected(
    database: Database, audit: AuditService
) -> None:
    add(database, 4)
    audit.sign("ten_a")
    future = utcnow() + timedelta(days=400)
    AuditRetention(database, 365, clock=lambda: future).prune()
    with database.unit_of_work() as uow:
        uow.session.execute(
            text("DELETE FROM audit_nodes WHERE log = 'ten_a' AND level = 0 AND idx = 1")
        )
        uow.commit()
    report = audit.verify("ten_a")
    assert report.first_bad_index == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_sweeper_signs_grown_logs_once_per_interval_then_applies_retention(
    database: Database, audit: AuditService
) -> None:
    monotonic = _Clock()
    future = utcnow() + timedelta(days=400)
    sweeper = Sweeper(
        database,
        3,
        30.0,
        monotonic=monotonic,
        checkpoints=audit.sign_grown,
        checkpoint_interval_s=60.0,
        audit_retention=AuditRetention(database, 365, clock=lambda: future).prune,
    )
    add(database, 3)
    assert sweeper.sweep().checkpointed == 1  # signed, then the signed entries retired
    with database.unit_of_work() as uow:
        assert uow.audit.pruned_below("ten_a") == 3
    add(database, 1)
    assert sweeper.sweep().checkpointed == 0  # not due yet
    monotonic.now += 60.0
    assert sweeper.sweep().checkpointed == 1
    assert audit.verify("ten_a").ok
