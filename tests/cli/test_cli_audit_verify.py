"""`qplane audit verify` on the server names the first broken entry of any log."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from qplane.bootstrap import build_platform
from qplane.cli.main import app
from qplane.config import Settings
from qplane.domain.tenancy import PrincipalKind, Role
from qplane.policy.actor import Actor


def _platform_with_history(data_dir: Path) -> str:
    platform = build_platform(Settings(data_dir=data_dir))
    try:
        operator = Actor(
            "usr_" + "0" * 32, PrincipalKind.OPERATOR, None, frozenset({Role.OPERATOR}),
            amr=("pwd", "otp"), auth_time=int(time.time()),  # operator changes need recent MFA
        )  # fmt: skip
        tenant = platform.tenancy.create_tenant(operator, "acme", 2)
        platform.tenancy.create_project(operator, tenant.id, "main")
        platform.tenancy.create_project(operator, tenant.id, "lab")
        return tenant.id
    finally:
        platform.close()


def _verify(data_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["audit", "verify", "--data-dir", str(data_dir)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_an_intact_log_verifies(tmp_path: Path) -> None:
    _platform_with_history(tmp_path)
    code, output = _verify(tmp_path)
    assert code == 0, output
    assert "verified" in output


def test_an_edited_entry_is_named_and_fails_the_command(tmp_path: Path) -> None:
    tenant_id = _platform_with_history(tmp_path)
    platform = build_platform(Settings(data_dir=tmp_path))
    with platform.database.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET target = 'prj_forged' WHERE log = :c AND idx = 2"),
            {"c": tenant_id},
        )
    platform.close()
    code, output = _verify(tmp_path)
    assert code != 0
    assert f"audit log {tenant_id} is broken at entry 2" in " ".join(output.split())
