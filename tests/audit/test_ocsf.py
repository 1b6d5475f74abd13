"""The OCSF API Activity mapping: a pure function of the signed record, and reversible to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.audit import ocsf
from qplane.audit.entry import to_record
from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.errors import IntegrityError


def _record(**overrides: object) -> dict[str, object]:
    entry = AuditEntry(
        log="ten_a",
        index=7,
        at=datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC),
        clock="test",
        action="job.submitted",
        outcome=Outcome.DENIED,
        tenant_id="ten_a",
        actor_id="usr_1",
        target="job_1",
        request_id="req_1",
        actor_kind="user",
        auth_method="pwd+otp",
        elevation_id="elv_1",
        decision="deny",
        policy_ids=("baseline.role.member",),
        job_id="job_1",
        backend="aer_statevector",
        source_ip="192.0.2.7",
        correlations=(("circuit", "hmac-sha256:00"),),
    )
    return {**to_record(entry), **overrides}


@pytest.mark.parametrize(
    ("action", "activity"),
    [
        ("job.submitted", 1),
        ("POST /v1/tenants", 1),
        ("audit.search", 2),
        ("GET /v1/jobs", 2),
        ("policy.activate", 3),
        ("job.succeeded", 3),
        ("key.shred", 4),
        ("DELETE /v1/keys", 4),
        ("authz.deny", 99),
    ],
)
def test_the_activity_follows_the_action_verb(action: str, activity: int) -> None:
    assert ocsf.activity_id(action) == activity


def test_an_entry_maps_to_the_api_activity_class() -> None:
    event = ocsf.event(_record(), {"tree_size": 8, "hashes": []})
    assert (event["class_uid"], event["category_uid"], event["type_uid"]) == (6003, 6, 600301)
    assert (event["severity_id"], event["metadata"]["version"]) == (1, "1.3.0")
    assert event["time"] == 1795608000123  # 2026-11-25T12:00:00.123Z in milliseconds
    assert (event["status_id"], event["status"], event["status_detail"]) == (2, "Failure", "denied")
    assert (event["action_id"], event["action"]) == (2, "Denied")
    assert event["actor"]["user"] == {"uid": "usr_1", "type_id": 1, "type": "User"}
    assert event["actor"]["session"] == {"uid": "elv_1"}
    assert event["actor"]["authorizations"] == [
        {"decision": "deny", "policy": {"uid": "baseline.role.member"}}
    ]
    assert event["src_endpoint"] == {"ip": "192.0.2.7"}
    assert event["api"] == {"operation": "job.submitted", "request": {"uid": "req_1"}}
    assert event["cloud"]["account"] == {"uid": "ten_a"}
    assert {(r["type"], r["uid"]) for r in event["resources"]} == {
        ("target", "job_1"),
        ("job", "job_1"),
        ("backend", "aer_statevector"),
    }
    assert event["unmapped"]["auth_method"] == "pwd+otp"
    assert event["metadata"]["uid"] == "ten_a/7"


def test_an_event_carries_the_record_and_proof_it_was_mapped_from() -> None:
    record, proof = _record(), {"tree_size": 8, "hashes": []}
    assert ocsf.evidence(ocsf.event(record, proof)) == (record, proof)
    with pytest.raises(IntegrityError):
        ocsf.evidence({"class_uid": 6003})
