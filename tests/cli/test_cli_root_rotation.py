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
