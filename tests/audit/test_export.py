"""Exports carry their own proofs: a tenant verifies them offline, pins and all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api import conftest as api_fixtures
from tests.api.conftest import TenantCtx
from tests.api.test_jobs_api import submit

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.entry import canonical
from qplane.audit.export import FORMAT
from qplane.audit.merkle import leaf_hash, merkle_tree_hash
from qplane.audit.merkle_tree import MerkleTree
from qplane.audit.offline import verify_export
from qplane.audit.signing import CheckpointKeys
from qplane.audit.stored_nodes import StoredNodes
from qplane.bootstrap import Platform

# The API tests' real platform, ASGI client, operator and tenant (found by module name).
platform = api_fixtures.platform
client = api_fixtures.client
operator_mfa = api_fixtures.operator_mfa
operator_headers = api_fixtures.operator_headers
acme = api_fixtures.acme

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def grow(client: TestClient, tenant: TenantCtx, *, jobs: int, checkpoints: int) -> list[int]:
    """Submit *jobs* jobs in *checkpoints* rounds, signing a checkpoint after each; their sizes."""
    sizes = []
    for _ in range(checkpoints):
        for _ in range(jobs // checkpoints):
            assert submit(client, tenant).status_code == 201
        signed = client.post("/v1/audit/checkpoints", headers=tenant.headers)
        sizes.append(signed.json()["size"])
    return sizes


def export(client: TestClient, tenant: TenantCtx, **params: str) -> list[str]:
    answer = client.get("/v1/audit/export", params=params, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return answer.text.splitlines()


def vkeys(client: TestClient) -> list[str]:
    return list(client.get("/v1/audit/keys").json()["vkeys"])


def lines_of(lines: list[str], kind: str) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in lines]
    return [item for item in items if item.get("type") == kind]


@pytest.fixture
def history(client: TestClient, acme: TenantCtx) -> list[int]:
    return grow(client, acme, jobs=6, checkpoints=3)


def test_a_whole_log_exports_and_verifies_offline_with_pinned_keys(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme)
    header = json.loads(lines[0])
    assert header["format"] == FORMAT
    assert (header["type"], header["log"], header["complete"]) == ("log", acme.tenant_id, True)
    entries = lines_of(lines, "entry")
    assert [e["entry"]["index"] for e in entries] == list(range(len(entries)))
    assert {c["size"] for c in map(_note_size, lines_of(lines, "checkpoint"))} >= set(history)
    report = verify_export(lines, vkeys(client))
    assert report.ok, report.describe()
    assert (report.entries, report.trusted_keys) == (len(entries), True)
    assert report.checkpoints >= len(history)


def test_the_export_is_itself_recorded_in_the_log_it_exports(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    last = lines_of(export(client, acme, action="job.submitted"), "entry")[-1]
    assert last["entry"]["action"] == "job.submitted"
    newest = lines_of(export(client, acme), "entry")[-1]["entry"]
    assert (newest["action"], newest["detail"]) == ("audit.export", "jsonl export of the whole log")


def test_without_pinned_keys_the_report_says_it_trusted_the_exports_own(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    report = verify_export(export(client, acme))
    assert report.ok
    assert report.trusted_keys is False
    assert "export's own keys" in report.describe()


def test_a_filtered_export_carries_only_matching_entries_each_with_its_proof(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme, action="job.submitted")
    assert json.loads(lines[0])["complete"] is False
    entries = lines_of(lines, "entry")
    assert len(entries) == 6
    assert {e["entry"]["action"] for e in entries} == {"job.submitted"}
    report = verify_export(lines, vkeys(client))
    assert (report.ok, report.entries) == (True, 6)


def test_an_edited_line_is_named_by_its_entry_index(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme)
    position, item = next(
        (i, json.loads(line)) for i, line in enumerate(lines) if '"job.submitted"' in line
    )
    item["entry"]["outcome"] = "denied"
    lines[position] = json.dumps(item)
    report = verify_export(lines, vkeys(client))
    assert (report.ok, report.first_bad_index) == (False, item["entry"]["index"])
    assert "edited" in report.describe()


def test_a_dropped_line_is_named_as_a_missing_entry(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme)
    position = next(i for i, line in enumerate(lines) if '"index":7,' in line)
    del lines[position]
    report = verify_export(lines, vkeys(client))
    assert (report.first_bad_index, report.problem) == (7, "the entry is missing (deleted)")


def test_a_file_cut_short_names_the_first_missing_entry(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme)
    total = len(lines_of(lines, "entry"))
    report = verify_export(lines[:-3], vkeys(client))
    assert report.first_bad_index == total - 3
    assert "deleted from the end" in (report.problem or "")


def test_members_without_audit_access_cannot_export(client: TestClient, acme: TenantCtx) -> None:
    client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "developer-pass-1"},
        headers=acme.headers,
    )
    member = api_fixtures.login(client, "dev@acme.test", "developer-pass-1")
    refused = client.get("/v1/audit/export", headers={"Authorization": f"Bearer {member}"})
    assert refused.status_code == 403
    assert client.get("/v1/audit/export").status_code == 401


def test_an_ocsf_export_maps_api_activity_fields_and_still_verifies(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme, format="ocsf")
    events = [json.loads(line) for line in lines if '"class_uid":6003' in line]
    submitted = next(e for e in events if e["api"]["operation"] == "job.submitted")
    assert (submitted["category_uid"], submitted["activity_id"]) == (6, 1)
    assert submitted["type_uid"] == 600301
    assert (submitted["status_id"], submitted["metadata"]["product"]["name"]) == (1, "qplane")
    assert (
        submitted["actor"]["user"]["uid"]
        == submitted["unmapped"]["qplane_audit"]["entry"]["actor_id"]
    )
    assert isinstance(submitted["time"], int)
    assert any(r["type"] == "job" for r in submitted["resources"])
    report = verify_export(lines, vkeys(client))
    assert (report.ok, report.entries) == (True, len(events))


def test_an_ocsf_field_that_disagrees_with_its_signed_record_is_named(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme, format="ocsf")
    position = next(i for i, line in enumerate(lines) if '"class_uid":6003' in line)
    event = json.loads(lines[position])
    event["status_id"] = 2
    lines[position] = json.dumps(event)
    report = verify_export(lines, vkeys(client))
    index = event["unmapped"]["qplane_audit"]["entry"]["index"]
    assert (report.first_bad_index, report.problem) == (
        index,
        "the OCSF fields do not say what the signed record says",
    )


def test_retired_entries_are_exported_as_leaf_hashes_and_the_tree_still_verifies(
    client: TestClient, platform: Platform, acme: TenantCtx, history: list[int]
) -> None:
    with platform.database.unit_of_work() as uow:
        uow.audit.prune(acme.tenant_id, 5)
        uow.commit()
    lines = export(client, acme)
    assert [leaf["index"] for leaf in lines_of(lines, "leaf")] == list(range(5))
    assert lines_of(lines, "entry")[0]["entry"]["index"] == 5
    assert verify_export(lines, vkeys(client)).ok
    edited = [line.replace('"index":3', '"index":4') for line in lines]
    assert verify_export(edited, vkeys(client)).first_bad_index == 3


def test_a_checkpoint_signed_by_another_key_is_refused(
    client: TestClient, acme: TenantCtx, history: list[int], tmp_path: Path
) -> None:
    origin = client.get("/v1/audit/keys").json()["origin"]
    strangers = CheckpointKeys.load_or_create(tmp_path, origin, post_quantum=False)
    lines = export(client, acme)
    report = verify_export(lines, list(strangers.vkeys))
    first = _note_size(lines_of(lines, "checkpoint")[0])["size"]
    assert (report.ok, report.bad_checkpoint) == (False, first)
    assert "signature" in (report.problem or "")


# -- pinned checkpoints ----------------------------------------------------------------


def test_a_pinned_checkpoint_the_log_extends_is_accepted(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    pinned = client.get("/v1/audit/checkpoint", headers=acme.headers).json()["note"]
    grow(client, acme, jobs=2, checkpoints=1)
    report = verify_export(export(client, acme), vkeys(client), pinned)
    assert report.ok, report.describe()


def test_a_pin_between_checkpoints_is_recomputed_from_a_complete_export(
    client: TestClient, platform: Platform, acme: TenantCtx, history: list[int]
) -> None:
    size = history[0] + 1  # no checkpoint was signed at this size
    note = _sign(platform, acme.tenant_id, size, _stored_root(platform, acme.tenant_id, size))
    assert verify_export(export(client, acme), vkeys(client), note).ok
    filtered = verify_export(export(client, acme, action="job.submitted"), vkeys(client), note)
    assert (filtered.ok, filtered.bad_checkpoint) == (False, size)
    assert "cannot show" in (filtered.problem or "")


@pytest.mark.parametrize("between", [False, True], ids=["at-a-checkpoint", "between-checkpoints"])
def test_a_pin_from_a_forked_log_is_refused(
    client: TestClient, platform: Platform, acme: TenantCtx, history: list[int], between: bool
) -> None:
    # Another history of the same log, signed with the platform's own keys.
    size = history[1] + (1 if between else 0)
    forged = merkle_tree_hash([leaf_hash(f"forged {i}".encode()) for i in range(size)])
    report = verify_export(
        export(client, acme), vkeys(client), _sign(platform, acme.tenant_id, size, forged)
    )
    assert (report.ok, report.bad_checkpoint) == (False, size)
    assert "forked" in (report.problem or "")


def test_a_pin_beyond_the_export_shows_the_log_rewound(
    client: TestClient, platform: Platform, acme: TenantCtx, history: list[int]
) -> None:
    lines = export(client, acme)
    newest = _note_size(lines_of(lines, "checkpoint")[-1])["size"]
    ahead = _sign(platform, acme.tenant_id, newest + 3, merkle_tree_hash([b"\x00" * 32]))
    report = verify_export(lines, vkeys(client), ahead)
    assert (report.bad_checkpoint, "rewound" in (report.problem or "")) == (newest + 3, True)


def test_a_pin_of_another_log_is_refused(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    history: list[int],
    operator_headers: dict[str, str],
) -> None:
    other = api_fixtures.make_tenant(client, operator_headers, "globex")
    note = client.get("/v1/audit/checkpoint", headers=other.headers).json()["note"]
    report = verify_export(export(client, acme), vkeys(client), note)
    assert not report.ok
    assert "another log" in (report.problem or "")


# -- malformed files ---------------------------------------------------------------------


def _malformed(lines: list[str]) -> dict[str, list[str]]:
    header, *rest = lines
    checkpoints = [line for line in rest if '"type":"checkpoint"' in line]
    entries = [line for line in rest if '"type":"entry"' in line]
    first = json.loads(entries[0])
    return {
        "empty": [],
        "not-json": [header, "{not json", *rest],
        "not-an-object": [header, "[1, 2]", *rest],
        "no-header": rest,
        "other-format": [header.replace(FORMAT, "something-else/9"), *rest],
        "unknown-line": [header, *checkpoints, '{"type":"surprise"}', *entries],
        "checkpoint-after-entries": [header, *checkpoints, *entries, checkpoints[0]],
        "no-checkpoint": [header, *entries],
        "entry-without-record": [header, *checkpoints, '{"type":"entry"}'],
        "bad-proof-hash": [
            header,
            *checkpoints,
            json.dumps({**first, "inclusion": {"tree_size": 3, "hashes": ["%%%"]}}),
        ],
        "bad-vkey": [header.replace('"vkeys":["', '"vkeys":["x'), *rest],
        "mangled-note": [header, checkpoints[0].replace("\\n\\n", "\\n"), *rest],
    }


_CASES = [
    "empty",
    "not-json",
    "not-an-object",
    "no-header",
    "other-format",
    "unknown-line",
    "checkpoint-after-entries",
    "no-checkpoint",
    "entry-without-record",
    "bad-proof-hash",
    "bad-vkey",
    "mangled-note",
]


def test_each_kind_of_malformed_file_is_reported_never_raised(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    cases = _malformed(export(client, acme))
    assert sorted(cases) == sorted(_CASES)
    for name, lines in cases.items():
        report = verify_export(lines)
        assert not report.ok, name
        described = report.describe()
        assert "\n" not in described, name
        assert "broken" in described, name


@pytest.mark.parametrize(
    ("case", "line", "words"),
    [
        ("not-json", 2, "not JSON"),
        ("no-header", 1, "first line"),
        ("checkpoint-after-entries", None, "unexpected line"),
        ("no-checkpoint", 2, "no signed checkpoint"),
        ("entry-without-record", -1, "without its record"),  # -1: right after the checkpoints
    ],
)
def test_a_malformed_line_is_named_by_its_number(
    client: TestClient,
    acme: TenantCtx,
    history: list[int],
    case: str,
    line: int | None,
    words: str,
) -> None:
    exported = export(client, acme)
    lines = _malformed(exported)[case]
    if line == -1:
        line = 2 + len(lines_of(exported, "checkpoint"))
    report = verify_export(lines)
    assert words in (report.problem or "")
    if line is not None:
        assert report.line == line
        assert f"line {line}" in report.describe()


def _note_size(item: dict[str, Any]) -> dict[str, int]:
    return {"size": int(item["note"].split("\n")[1])}


def _stored_root(platform: Platform, log: str, size: int) -> bytes:
    with platform.database.unit_of_work() as uow:
        head = uow.audit.head(log)
        assert head is not None
        return MerkleTree(StoredNodes(uow.audit, log), head.size).root(size)


def _sign(platform: Platform, log: str, size: int, root: bytes) -> str:
    keys = platform.audit.keys
    return sign_checkpoint(platform.audit.origin(log), size, root, keys.signers)


def test_canonical_records_in_the_export_hash_to_their_leaves(
    client: TestClient, acme: TenantCtx, history: list[int]
) -> None:
    # The file is usable without qplane: sort keys, no spaces, ASCII, then RFC 9162.
    lines = export(client, acme)
    entry = lines_of(lines, "entry")[0]["entry"]
    assert canonical(entry) == json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
