"""`qplane` commands run for real against an embedded platform on loopback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qplane.cli.credentials import FILE_NAME
from tests.cli.cli_harness import (
    ADMIN_PASSWORD,
    UNSERVED_BACKEND,
    Cli,
    LivePlatform,
    TenantSession,
    assert_one_line_error,
    first_id,
)

pytestmark = pytest.mark.e2e


def test_login_stores_an_owner_only_session_without_echoing_the_token(
    operator: Cli, live: LivePlatform
) -> None:
    stored = operator.config_dir / FILE_NAME
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(operator.config_dir.stat().st_mode) == 0o700
    token = json.loads(stored.read_text())["token"]
    whoami = operator.ok("whoami")
    assert "operator" in whoami.stdout
    assert live.url in whoami.stdout
    assert token not in whoami.output


def test_login_with_a_prompted_password(live: LivePlatform, acme: TenantSession, cli: Cli) -> None:
    result = cli.ok(
        "login", "--url", live.url, "--email", "admin@acme.example", input=ADMIN_PASSWORD + "\n"
    )
    assert ADMIN_PASSWORD not in result.stdout
    assert acme.tenant_id in result.stdout
    assert "tenant_admin" in result.stdout


def test_wrong_password_is_one_line_and_stores_nothing(live: LivePlatform, cli: Cli) -> None:
    result = cli(
        "login", "--url", live.url, "--email", "admin@acme.example", "--password-stdin",
        input="not-the-password\n",
    )  # fmt: skip
    assert_one_line_error(result)
    assert not (cli.config_dir / FILE_NAME).exists()


def test_logout_forgets_the_session(live: LivePlatform, acme: TenantSession, cli: Cli) -> None:
    cli.ok(
        "login", "--url", live.url, "--email", "admin@acme.example", "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert "logged out" in cli.ok("logout").stdout
    assert "not logged in" in assert_one_line_error(cli("whoami"))


def test_tenant_list_shows_created_tenants(operator: Cli, acme: TenantSession) -> None:
    listing = operator.ok("tenant", "list").stdout
    assert acme.tenant_id in listing
    assert "acme" in listing


def test_project_list_defaults_to_the_callers_tenant(acme: TenantSession) -> None:
    listing = acme.admin.ok("project", "list").stdout
    assert acme.project_id in listing
    assert "research" in listing


def test_operator_must_name_a_tenant_for_projects(operator: Cli) -> None:
    assert "--tenant" in assert_one_line_error(operator("project", "list"))


def test_user_create_prompts_for_the_password_twice(operator: Cli, acme: TenantSession) -> None:
    password = "member-password-1234"
    result = operator.ok(
        "user", "create", "member@acme.example", "--role", "member", "--tenant", acme.tenant_id,
        input=f"{password}\n{password}\n",
    )  # fmt: skip
    assert first_id(result.stdout, "usr")
    assert password not in result.stdout


def test_project_membership_is_managed_from_the_cli(acme: TenantSession) -> None:
    password = "member-password-1234"
    created = acme.admin.ok(
        "user", "create", "analyst@acme.example", "--role", "member",
        "--project", acme.project_id, "--password-stdin", input=f"{password}\n",
    )  # fmt: skip
    user_id = first_id(created.stdout, "usr")
    assert user_id in acme.admin.ok("project", "members", acme.project_id).stdout

    removed = acme.admin.ok("project", "remove-member", acme.project_id, user_id)
    assert "no longer a member" in removed.stdout
    assert user_id not in acme.admin.ok("project", "members", acme.project_id).stdout
    acme.admin.ok("project", "add-member", acme.project_id, user_id)
    assert f"{user_id}  manual" in acme.admin.ok("project", "members", acme.project_id).stdout
    missing = acme.admin("project", "add-member", acme.project_id, "usr_nobody")
    assert "not found" in assert_one_line_error(missing)


def test_backends_lists_limits(acme: TenantSession) -> None:
    listing = acme.admin.ok("backends").stdout
    for name in ("aer_statevector", "aer_mps", "aer_density_matrix"):
        assert name in listing


def test_submit_wait_shows_the_verified_result(
    acme: TenantSession, worker: str, circuits: Path
) -> None:
    result = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", "aer_statevector", "--shots", "256",
        "--project", acme.project_id, "--seed", "11", "--tag", "bell", "--wait", "--timeout", "120",
    )  # fmt: skip
    out = result.stdout
    assert "qasm2" in out
    assert "verified" in out
    assert "256" in out
    assert "█" in out
    assert " 00 " in out
    assert " 11 " in out
    assert " 01 " not in out  # a Bell pair never gives 01 or 10


def test_submit_detects_qasm3_and_accepts_a_project_name(
    acme: TenantSession, worker: str, circuits: Path
) -> None:
    result = acme.admin.ok(
        "submit", str(circuits / "ghz.qasm"), "--backend", "aer_mps", "--shots", "100",
        "--project", "research", "--wait", "--timeout", "120",
    )  # fmt: skip
    assert "qasm3" in result.stdout
    assert "000" in result.stdout
    assert "111" in result.stdout


def test_jobs_job_and_result_describe_the_same_job(
    acme: TenantSession, worker: str, circuits: Path
) -> None:
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", "aer_statevector", "--shots", "128",
        "--project", acme.project_id, "--seed", "3", "--wait", "--timeout", "120",
    )  # fmt: skip
    job_id = first_id(submitted.stdout, "job")

    listing = acme.admin.ok("jobs", "--project", acme.project_id, "--state", "verified")
    assert job_id in listing.stdout

    details = acme.admin.ok("job", job_id).stdout
    history = details[details.index("history") :]
    states = ["submitted", "validated", "queued", "scheduled", "running", "succeeded", "verified"]
    positions = [history.index(state) for state in states]
    assert positions == sorted(positions)
    assert "Z" in details  # timestamps, in UTC

    raw = json.loads(acme.admin.ok("result", job_id, "--json").stdout)
    assert raw["job_id"] == job_id
    assert raw["shots"] == 128
    assert raw["seed"] == 3
    assert sum(raw["counts"].values()) == 128
    shown = acme.admin.ok("result", job_id).stdout
    assert "aer_statevector" in shown
    assert "execution time" in shown


def test_circuit_and_log_show_the_jobs_other_artifacts(
    acme: TenantSession, worker: str, circuits: Path
) -> None:
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", "aer_statevector", "--shots", "64",
        "--project", acme.project_id, "--seed", "5", "--wait", "--timeout", "120",
    )  # fmt: skip
    job_id = first_id(submitted.stdout, "job")

    source = acme.admin.ok("circuit", job_id).stdout
    log = acme.admin.ok("log", job_id).stdout

    assert source.split() == (circuits / "bell.qasm").read_text().split()
    events = [line.split()[1] for line in log.splitlines()]
    assert events[0] == "leased"
    assert events[1] == "started"
    assert events[-1] == "completed"
    assert "backend=aer_statevector" in log
    assert "shots=64" in log
    # The log tells what happened, never what the circuit or the result were.
    assert "OPENQASM" not in log
    assert "counts" not in log


def test_jobs_all_pages_through_everything(acme: TenantSession, circuits: Path) -> None:
    for _ in range(3):
        acme.admin.ok(
            "submit", str(circuits / "bell.qasm"), "--backend", UNSERVED_BACKEND,
            "--project", acme.project_id, "--tag", "paging",
        )  # fmt: skip
    one_page = acme.admin.ok("jobs", "--project", acme.project_id, "--limit", "1").stdout
    assert "--all" in one_page
    everything = acme.admin.ok("jobs", "--project", acme.project_id, "--all").stdout
    assert everything.count("paging") >= 3


def test_cancel_a_queued_job(acme: TenantSession, circuits: Path) -> None:
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", UNSERVED_BACKEND,
        "--project", acme.project_id,
    )  # fmt: skip
    job_id = first_id(submitted.stdout, "job")
    assert "cancelled" in acme.admin.ok("cancel", job_id).stdout
    assert "cancelled" in acme.admin.ok("job", job_id).stdout
    again = assert_one_line_error(acme.admin("cancel", job_id))
    assert "already cancelled" in again
    assert "no result" in assert_one_line_error(acme.admin("result", job_id))


def test_another_tenant_gets_not_found_for_every_job_command(
    acme: TenantSession, globex: TenantSession, circuits: Path
) -> None:
    submitted = acme.admin.ok(
        "submit", str(circuits / "bell.qasm"), "--backend", UNSERVED_BACKEND,
        "--project", acme.project_id,
    )  # fmt: skip
    job_id = first_id(submitted.stdout, "job")
    for args in (("job", job_id), ("result", job_id), ("cancel", job_id)):
        assert "Not found" in assert_one_line_error(globex.admin(*args))
    assert "Not found" in assert_one_line_error(globex.admin("jobs", "--project", acme.project_id))
    assert "queued" in acme.admin.ok("job", job_id).stdout  # globex's cancel changed nothing


def test_unknown_backend_is_one_line_naming_the_rejected_job(
    acme: TenantSession, circuits: Path
) -> None:
    result = acme.admin(
        "submit", str(circuits / "bell.qasm"), "--backend", "no_such_backend",
        "--project", acme.project_id,
    )  # fmt: skip
    line = assert_one_line_error(result)
    assert "unknown backend" in line
    rejected = first_id(line, "job")
    assert "rejected" in acme.admin.ok("job", rejected).stdout


def test_audit_entries_and_remote_verification(acme: TenantSession) -> None:
    entries = acme.admin.ok("audit", "entries", "--action", "job.submitted", "--limit", "5")
    assert "job.submitted" in entries.stdout
    verified = acme.admin.ok("audit", "verify-remote").stdout
    assert acme.tenant_id in verified
    assert "intact" in verified


def test_operator_cannot_read_tenant_audit(operator: Cli) -> None:
    assert_one_line_error(operator("audit", "entries"))


def test_automation_uses_qplane_token_and_url(acme: TenantSession, live: LivePlatform) -> None:
    token = json.loads((acme.admin.config_dir / FILE_NAME).read_text())["token"]
    empty = acme.admin.config_dir.parent / "no-config"
    env = {"QPLANE_CONFIG_DIR": str(empty), "QPLANE_URL": live.url, "QPLANE_TOKEN": token}
    from qplane.cli.main import app

    result = CliRunner().invoke(app, ["project", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert acme.project_id in result.stdout
    assert token not in result.output


def test_a_group_readable_session_is_refused(acme: TenantSession) -> None:
    stored = acme.admin.config_dir / FILE_NAME
    os.chmod(stored, 0o640)
    try:
        assert "group or others" in assert_one_line_error(acme.admin("whoami"))
    finally:
        os.chmod(stored, 0o600)


def test_a_tenant_admin_must_name_a_tenant_by_id(acme: TenantSession) -> None:
    line = assert_one_line_error(acme.admin("project", "list", "--tenant", "acme"))
    assert "pass its id" in line
    assert acme.project_id in acme.admin.ok("project", "list", "--tenant", acme.tenant_id).stdout
