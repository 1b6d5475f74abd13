"""An entry's bytes: canonical, self-describing, and stable for the leaf hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from qplane.audit.entry import (
    ENTRY_FORMAT,
    canonical,
    entry_bytes,
    entry_leaf,
    from_record,
    rfc3339,
    to_record,
)
from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.errors import IntegrityError

ENTRY = AuditEntry(
    log="ten_a",
    index=7,
    at=datetime(2026, 11, 25, 12, 0, 1, 250, tzinfo=UTC),
    clock="system:tsc;sync=synchronised",
    action="job.submitted",
    outcome=Outcome.SUCCESS,
    tenant_id="ten_a",
    actor_id="usr_1",
    target="job_1",
    request_id="req-1",
    actor_kind="user",
    auth_method="pwd+otp",
    decision=None,
    policy_ids=("baseline.member-submits",),
    job_id="job_1",
    backend="aer-simulator",
    source_ip="203.0.113.9",
    correlations=(("circuit", "hmac-sha256:" + "00" * 32),),
)


def test_the_leaf_is_sha256_of_a_zero_byte_and_the_canonical_json() -> None:
    data = entry_bytes(ENTRY)
    assert entry_leaf(ENTRY) == hashlib.sha256(b"\x00" + data).digest()
    record = json.loads(data)
    assert data == json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    assert (record["v"], record["log"], record["index"]) == (ENTRY_FORMAT, "ten_a", 7)


def test_time_is_rfc3339_utc_with_microseconds() -> None:
    assert to_record(ENTRY)["at"] == "2026-11-25T12:00:01.000250Z"
    assert rfc3339(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"


def test_a_record_round_trips_to_the_same_entry_and_leaf() -> None:
    record = json.loads(entry_bytes(ENTRY))
    assert from_record(record) == ENTRY
    assert canonical(record) == entry_bytes(ENTRY)


@pytest.mark.parametrize(
    "field",
    ["log", "index", "at", "action", "outcome", "actor_id", "policy_ids", "correlations"],
)
def test_changing_any_field_changes_the_leaf(field: str) -> None:
    record = to_record(ENTRY)
    record[field] = {
        "log": "ten_b",
        "index": 8,
        "at": "2026-11-25T12:00:02.000000Z",
        "action": "job.cancelled",
        "outcome": "denied",
        "actor_id": "usr_2",
        "policy_ids": [],
        "correlations": {},
    }[field]
    assert canonical(record) != entry_bytes(ENTRY)


@pytest.mark.parametrize(
    "damage",
    [
        {"v": 1},
        {"index": -1},
        {"index": "7"},
        {"index": True},
        {"outcome": "maybe"},
        {"at": "yesterday"},
        {"actor_id": 5},
        {"policy_ids": "baseline"},
        {"extra": 1},
    ],
    ids=[
        "version",
        "negative",
        "text-index",
        "bool-index",
        "outcome",
        "time",
        "actor",
        "ids",
        "extra",
    ],
)
def test_a_malformed_record_is_an_integrity_error(damage: dict[str, object]) -> None:
    with pytest.raises(IntegrityError, match="malformed audit entry"):
        from_record({**to_record(ENTRY), **damage})


def test_a_record_missing_a_field_is_refused() -> None:
    record = to_record(ENTRY)
    del record["source_ip"]
    with pytest.raises(IntegrityError):
        from_record(record)
    with pytest.raises(IntegrityError):
        from_record(["not", "an", "object"])
