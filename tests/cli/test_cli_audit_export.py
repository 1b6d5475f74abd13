"""`qplane audit export | pin | check-pin` and `qplane audit verify EXPORT`, end to end.

A tenant admin exports the tenant's log through a live control plane and
verifies the file offline; an edited line fails the command with one line
naming the entry. A pinned checkpoint is later proven a prefix of the log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.merkle import leaf_hash, merkle_tree_hash
from tests.cli.cli_harness import LivePlatform, TenantSession, assert_one_line_error


@pytest.fixture
def exported(acme: TenantSession, tmp_path: Path) -> Path:
    out = tmp_path / "audit.jsonl"
    result = acme.admin.ok("audit", "export", "--out", str(out))
    assert f"lines to {out}" in " ".join(result.stdout.split())
    return out


def _edit_first_entry(path: Path) -> int:
    """Mark the first entry line denied, as an attacker editing the file would; its index."""
    lines = path.read_text().splitlines()
    position = next(i for i, line in enumerate(lines) if '"type":"entry"' in line)
    item = json.loads(lines[position])
    item["entry"]["outcome"] = "denied" if item["entry"]["outcome"] != "denied" else "success"
    lines[position] = json.dumps(item)
    path.write_text("\n".join(lines) + "\n")
    return int(item["entry"]["index"])


def test_an_export_verifies_offline(acme: TenantSession, exported: Path) -> None:
    result = acme.admin.ok("audit", "verify", str(exported))
    said = " ".join(result.stdout.split())
    assert f"audit log {acme.tenant_id} intact" in said
    assert "export's own keys" in said  # no key was pinned


def test_an_edited_line_fails_verification_naming_the_entry(
    acme: TenantSession, exported: Path
) -> None:
    index = _edit_first_entry(exported)
    line = assert_one_line_error(acme.admin("audit", "verify", str(exported)))
    assert f"audit log {acme.tenant_id} is broken at entry {index}" in line


def test_an_export_verifies_with_the_keys_of_a_pin(
    acme: TenantSession, exported: Path, tmp_path: Path
) -> None:
    pin = tmp_path / "pin.json"
    acme.admin.ok("audit", "pin", "--out", str(pin))
    vkey = json.loads(pin.read_text())["vkeys"][0]
    later = tmp_path / "later.jsonl"
    acme.admin.ok("audit", "export", "--out", str(later))
    for extra in (["--pinned", str(pin)], ["--key", vkey]):
        said = " ".join(acme.admin.ok("audit", "verify", str(later), *extra).stdout.split())
        assert "intact" in said
        assert "own keys" not in said


def test_a_filtered_ocsf_export_verifies(acme: TenantSession, tmp_path: Path) -> None:
    out = tmp_path / "ocsf.jsonl"
    filters = ("--format", "ocsf", "--action", "audit.export")
    acme.admin.ok("audit", "export", "--out", str(out), *filters)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(e.get("class_uid") == 6003 for e in events)
    assert "intact" in acme.admin.ok("audit", "verify", str(out)).stdout


def test_pin_then_check_pin_proves_the_log_only_grew(acme: TenantSession, tmp_path: Path) -> None:
    pin = tmp_path / "pin.json"
    said = acme.admin.ok("audit", "pin", "--out", str(pin), "--fresh").stdout
    assert f"of log {acme.tenant_id}" in said
    pinned = _pinned_size(pin)
    acme.admin.ok("audit", "entries")  # the log grows (every read is recorded)
    acme.admin.ok("audit", "pin", "--out", str(tmp_path / "unused.json"), "--fresh")
    checked = " ".join(acme.admin.ok("audit", "check-pin", str(pin), "--advance").stdout.split())
    assert f"extends the pinned checkpoint of size {pinned}" in checked
    assert "never rewound or forked" in checked
    assert _pinned_size(pin) > pinned  # --advance moved the pin to the newest checkpoint


def _pinned_size(pin: Path) -> int:
    return int(json.loads(pin.read_text())["note"].split("\n")[1])


def test_check_pin_refuses_a_pin_from_a_forked_log(
    acme: TenantSession, live: LivePlatform, tmp_path: Path
) -> None:
    pin = tmp_path / "pin.json"
    acme.admin.ok("audit", "pin", "--out", str(pin), "--fresh")
    saved = json.loads(pin.read_text())
    size = _pinned_size(pin)
    # The same log, the same keys, another history: what a forking operator would show.
    platform = live.embedded.platform
    assert platform is not None
    forged = merkle_tree_hash([leaf_hash(f"forged {i}".encode()) for i in range(size)])
    saved["note"] = sign_checkpoint(saved["origin"], size, forged, platform.audit.keys.signers)
    pin.write_text(json.dumps(saved))
    line = assert_one_line_error(acme.admin("audit", "check-pin", str(pin)))
    assert "forked" in line


def test_verify_refuses_keys_without_an_export(acme: TenantSession) -> None:
    line = assert_one_line_error(acme.admin("audit", "verify", "--key", "x+00000000+AQ=="))
    assert "export file" in line


def test_a_missing_export_or_pin_is_one_line_naming_the_file(
    acme: TenantSession, exported: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.jsonl"
    line = assert_one_line_error(acme.admin("audit", "verify", str(missing)))
    assert f"cannot read {missing}" in line
    line = assert_one_line_error(
        acme.admin("audit", "verify", str(exported), "--pinned", str(tmp_path / "no-pin.json"))
    )
    assert "cannot read" in line
    assert "no-pin.json" in line
