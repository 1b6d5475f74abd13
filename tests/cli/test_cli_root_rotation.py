"""``qplane keys rotate-root`` on the server's data directory: rewraps every KEK, audited."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from qplane.bootstrap import build_platform
from qplane.cli.main import app
from qplane.config import Settings
from qplane.crypto.envelope import ArtifactBinding
from qplane.crypto.keyring import root_key_path

BINDING = ArtifactBinding("placeholder", "prj_1", "job_1", "result")


def test_rotate_root_rewraps_every_key_and_records_it_in_the_platform_chain(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    platform = build_platform(settings)
    with platform.database.unit_of_work() as uow:
        ring = platform.key_hierarchy.platform_ring(uow, "mfa")
        sealed = platform.key_hierarchy.seal(uow, b"operator secret", BINDING, ring=ring)
        uow.commit()

    result = CliRunner().invoke(
        app, ["keys", "rotate-root", "--data-dir", str(settings.data_dir), "--delete-old"]
    )

    assert result.exit_code == 0, result.output
    assert "root key version 2 now wraps 1 key versions" in result.output
    assert not root_key_path(settings.key_dir, 1).exists()
    with platform.database.unit_of_work() as uow:
        # The running platform picks the new root up from the key directory.
        assert platform.key_hierarchy.open(uow, sealed, BINDING) == b"operator secret"
    with platform.database.engine.connect() as conn:
        recorded = conn.execute(
            text("SELECT tenant_id, detail FROM audit_entries WHERE action = 'key.rotate_root'")
        ).all()
    assert recorded == [(None, "root key version 2 now wraps 1 key versions")]
    platform.close()


def test_root_keys_back_up_to_a_recovery_key_and_restore_on_a_fresh_machine(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    settings = Settings(data_dir=tmp_path / "data")
    build_platform(settings).close()  # creates root.key
    keygen = runner.invoke(app, ["archive", "keygen", "--out", str(tmp_path / "recovery")])
    assert keygen.exit_code == 0, keygen.output
    backup = tmp_path / "root.backup"

    saved = runner.invoke(
        app,
        ["keys", "backup-root", "--data-dir", str(settings.data_dir),
         "--to", str(tmp_path / "recovery" / "recipient.pub"), "--out", str(backup)],
    )  # fmt: skip
    restored = runner.invoke(
        app,
        ["keys", "restore-root", str(backup), "--data-dir", str(tmp_path / "fresh"),
         "--key", str(tmp_path / "recovery" / "recipient.key")],
    )  # fmt: skip

    assert saved.exit_code == 0, saved.output
    assert restored.exit_code == 0, restored.output
    fresh = Settings(data_dir=tmp_path / "fresh")
    assert (
        root_key_path(fresh.key_dir, 1).read_bytes()
        == root_key_path(settings.key_dir, 1).read_bytes()
    )
    assert root_key_path(settings.key_dir, 1).read_bytes().strip() not in backup.read_bytes()
