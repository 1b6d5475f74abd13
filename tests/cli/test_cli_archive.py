"""`qplane archive` against a live server: keygen, fetch a sealed job archive, open it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from qplane.crypto.hybrid_kem import HybridKemPublicKey
from tests.cli.cli_harness import (
    BELL_QASM2,
    Cli,
    LivePlatform,
    TenantSession,
    assert_one_line_error,
    first_id,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def archived(
    acme: TenantSession, worker: str, circuits: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path]:
    """A verified job, a recipient key pair made by `keygen`, and the job's archive file."""
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", "aer_statevector", "--shots", "64",
        "--project", acme.project_id, "--seed", "3", "--wait", "--timeout", "120",
    )  # fmt: skip
    job_id = first_id(submitted.stdout, "job")
    where = tmp_path_factory.mktemp("archive")
    keys = where / "keys"
    made = acme.admin.ok("archive", "keygen", "--out", str(keys))
    assert HybridKemPublicKey.from_pem((keys / "recipient.pub").read_text()).fingerprint in (
        made.stdout
    )
    file = where / f"{job_id}.qparchive"
    acme.admin.ok("archive", "job", job_id, "--to", str(keys / "recipient.pub"), "--out", str(file))
    return job_id, keys, file


def test_keygen_writes_a_private_key_only_its_owner_can_read(
    archived: tuple[str, Path, Path], acme: TenantSession
) -> None:
    _, keys, _ = archived
    assert stat.S_IMODE((keys / "recipient.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert "PRIVATE KEY" not in (keys / "recipient.pub").read_text()
    again = acme.admin("archive", "keygen", "--out", str(keys))
    assert "already exists" in assert_one_line_error(again)


def test_an_archive_opens_verifies_and_extracts(
    archived: tuple[str, Path, Path], acme: TenantSession, tmp_path: Path
) -> None:
    job_id, keys, file = archived
    platform_pem = tmp_path / "platform.pem"
    acme.admin.ok("archive", "attestation-key", "--out", str(platform_pem))
    out = tmp_path / "extracted"

    opened = acme.admin.ok(
        "archive", "open", str(file), "--key", str(keys / "recipient.key"),
        "--attestation-key", str(platform_pem), "--extract", str(out),
    )  # fmt: skip

    assert job_id in opened.stdout
    assert "attestation verified" in opened.stdout
    assert acme.tenant_id in opened.stdout
    assert (out / "circuit.qasm").read_text() == BELL_QASM2
    statement = json.loads(json.loads((out / "attestation.json").read_text())["statement"])
    result = (out / "result.json").read_bytes()
    assert hashlib.sha256(result).hexdigest() == statement["result_sha256"]
    assert set(json.loads(result)["counts"]) <= {"00", "11"}
    assert json.loads((out / "job.json").read_text())["id"] == job_id
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())


def test_the_attestation_key_can_be_fetched_without_signing_in(
    archived: tuple[str, Path, Path], live: LivePlatform, cli: Cli
) -> None:
    _, keys, file = archived

    opened = cli.ok(
        "archive", "open", str(file), "--key", str(keys / "recipient.key"), "--url", live.url
    )

    assert "attestation verified" in opened.stdout
    assert live.url in opened.stdout


def test_a_tampered_archive_is_one_line_error(
    archived: tuple[str, Path, Path], acme: TenantSession, tmp_path: Path
) -> None:
    _, keys, file = archived
    tampered = bytearray(file.read_bytes())
    tampered[-40] ^= 0x01
    (tmp_path / "tampered.qparchive").write_bytes(bytes(tampered))
    out = tmp_path / "extracted"

    refused = acme.admin(
        "archive", "open", str(tmp_path / "tampered.qparchive"),
        "--key", str(keys / "recipient.key"), "--extract", str(out),
    )  # fmt: skip

    assert "failed to verify" in assert_one_line_error(refused)
    assert not out.exists()


def test_another_recipients_key_cannot_open_it(
    archived: tuple[str, Path, Path], acme: TenantSession, tmp_path: Path
) -> None:
    _, _, file = archived
    acme.admin.ok("archive", "keygen", "--out", str(tmp_path / "other"))

    refused = acme.admin(
        "archive", "open", str(file), "--key", str(tmp_path / "other" / "recipient.key")
    )

    assert "another key" in assert_one_line_error(refused)


def test_a_private_key_others_can_read_is_refused(
    archived: tuple[str, Path, Path], acme: TenantSession, tmp_path: Path
) -> None:
    _, keys, file = archived
    exposed = tmp_path / "exposed.key"
    exposed.write_bytes((keys / "recipient.key").read_bytes())
    os.chmod(exposed, 0o644)

    refused = acme.admin("archive", "open", str(file), "--key", str(exposed))

    assert "chmod 600" in assert_one_line_error(refused)


def test_a_job_of_another_tenant_is_not_found(
    archived: tuple[str, Path, Path], globex: TenantSession, tmp_path: Path
) -> None:
    job_id, keys, _ = archived

    refused = globex.admin(
        "archive", "job", job_id, "--to", str(keys / "recipient.pub"),
        "--out", str(tmp_path / "stolen.qparchive"),
    )  # fmt: skip

    assert "job not found" in assert_one_line_error(refused)
    assert not (tmp_path / "stolen.qparchive").exists()
