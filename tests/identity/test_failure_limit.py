"""Failure limits: a sliding window of failures per subject, counted in the shared database."""

from __future__ import annotations

import pytest

from qplane.domain.errors import QuotaExceeded
from qplane.identity.failure_limit import FailureLimit
from qplane.store.database import Database

NOW = 1_900_000_000.0
LIMIT = FailureLimit("zz", 3, 600, "too many tries")


def _fail(database: Database, subject: str, at: float, limit: FailureLimit = LIMIT) -> None:
    with database.unit_of_work() as uow:
        limit.record_failure(uow, subject, at)
        uow.commit()


def _check(database: Database, subject: str, at: float, limit: FailureLimit = LIMIT) -> None:
    with database.unit_of_work() as uow:
        limit.check(uow, subject, at)


def test_the_limit_is_reached_after_max_failures_and_says_when_to_retry(
    database: Database,
) -> None:
    for second in (0, 100, 200):
        _check(database, "alice", NOW + second)
        _fail(database, "alice", NOW + second)
    with pytest.raises(QuotaExceeded, match="too many tries") as refused:
        _check(database, "alice", NOW + 250)
    # The oldest failure (at NOW) leaves the window at NOW + 600.
    assert refused.value.extensions == {"retry_after_s": 350}


def test_the_window_slides(database: Database) -> None:
    for second in (0, 100, 200):
        _fail(database, "alice", NOW + second)
    with pytest.raises(QuotaExceeded):
        _check(database, "alice", NOW + 599)
    _check(database, "alice", NOW + 600)  # the first failure has left the window
    _fail(database, "alice", NOW + 600)
    with pytest.raises(QuotaExceeded):
        _check(database, "alice", NOW + 601)


def test_subjects_and_purposes_are_counted_apart(database: Database) -> None:
    other_purpose = FailureLimit("yy", 3, 600, "too many tries")
    for second in (0, 1, 2):
        _fail(database, "alice", NOW + second)
    _check(database, "bob", NOW + 3)
    _check(database, "alice", NOW + 3, other_purpose)


def test_the_namespace_fits_the_column_and_hides_the_subject() -> None:
    namespace = LIMIT.namespace("alice@acme.test")
    assert len(namespace) == 16
    assert namespace.startswith("zz:")
    assert "alice" not in namespace
    assert namespace == LIMIT.namespace("alice@acme.test")
    assert namespace != LIMIT.namespace("alice@acme.tesT")


@pytest.mark.parametrize(
    ("purpose", "max_failures", "window_s"),
    [("z", 3, 60), ("zzz", 3, 60), ("z1", 3, 60), ("zz", 0, 60), ("zz", 3, 0)],
)
def test_nonsense_limits_are_refused(purpose: str, max_failures: int, window_s: int) -> None:
    with pytest.raises(ValueError, match="must"):
        FailureLimit(purpose, max_failures, window_s, "no")
