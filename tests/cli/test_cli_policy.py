"""`qplane policy`: test locally, push, approve and roll back against a live platform."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from qplane.store.models_membership import PrincipalGroupRow
from tests.cli.cli_harness import (
    ADMIN_PASSWORD,
    Cli,
    LivePlatform,
    TenantSession,
    assert_one_line_error,
    enrol_mfa,
)

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
GROUPS = ("acme-approvers", "acme-consultants", "acme-researchers")


@pytest.fixture(scope="module")
def admin(acme: TenantSession, live: LivePlatform) -> Cli:
    """acme's admin, stepped up, in a tenant whose directory has the examples' groups."""
    enrol_mfa(acme.admin)
    me = acme.admin.ok("whoami").stdout
    principal = next(word for word in me.split() if word.startswith("usr_"))
    platform = live.embedded.platform
    assert platform is not None
    with Session(platform.database.engine) as session:
        for group in GROUPS:
            session.add(
                PrincipalGroupRow(
                    tenant_id=acme.tenant_id,
                    principal_id=principal,
                    group_name=group,
                    source="manual",
                    created_at=datetime.now(UTC),
                )
            )
        session.commit()
    return acme.admin


@pytest.fixture(scope="module")
def second_admin(
    acme: TenantSession, operator: Cli, live: LivePlatform, tmp_path_factory: pytest.TempPathFactory
) -> Cli:
    email = "admin2@acme.example"
    operator.ok(
        "user", "create", email, "--role", "tenant_admin", "--tenant", acme.tenant_id,
        "--password-stdin", input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    cli = Cli(tmp_path_factory.mktemp("acme-admin2"))
    cli.ok(
        "login", "--url", live.url, "--email", email, "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    enrol_mfa(cli)
    return cli


def _copy(example: str, where: Path) -> Path:
    target = where / example
    shutil.copytree(EXAMPLES / example, target)
    return target


def _breaking(directory: Path) -> Path:
    """The example with its qubit limit raised, so its own cases fail."""
    policy = directory / "policy.cedar"
    policy.write_text(policy.read_text().replace("> 30", "> 40"))
    return directory


def test_policy_test_runs_the_cases_locally_without_a_server(cli: Cli, tmp_path: Path) -> None:
    for example in sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir()):
        assert "cases passed" in cli.ok("policy", "test", str(EXAMPLES / example)).stdout
    failing = cli("policy", "test", str(_breaking(_copy("large-jobs-need-approver", tmp_path))))
    assert failing.exit_code == 1
    assert "3/5 cases passed" in failing.stdout
    assert "FAIL 31 qubits without an approver are refused: expected deny" in failing.stdout
    assert "policy tests failed" in assert_one_line_error(failing)


def test_a_refused_policy_names_its_file_and_line(cli: Cli, tmp_path: Path) -> None:
    directory = _copy("large-jobs-need-approver", tmp_path)
    (directory / "z-broken.cedar").write_text('@id("x")\npermit (principal, action, resource)\n')
    line = assert_one_line_error(cli("policy", "test", str(directory)))
    assert "do not parse" in line
    assert "(at z-broken.cedar:1)" in line


def test_a_directory_without_cases_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "p.cedar").write_text("")
    assert "no test cases" in assert_one_line_error(
        cli("policy", "push", str(tmp_path), "--reason", "r")
    )


def test_push_approve_and_roll_back_from_the_command_line(
    admin: Cli, second_admin: Cli, tmp_path: Path
) -> None:
    examples = sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())
    for number, example in enumerate(examples, start=1):
        pushed = admin.ok("policy", "push", str(EXAMPLES / example), "--reason", example)
        assert f"version {number} pushed and active" in pushed.stdout
    last = len(examples)

    broken = _breaking(_copy("large-jobs-need-approver", tmp_path))
    failed = admin("policy", "push", str(broken), "--reason", "too lax")
    assert failed.exit_code == 1
    assert "FAIL 31 qubits without an approver are refused" in failed.stdout
    assert f"version {last + 1} failed its policy tests" in assert_one_line_error(failed)

    admin.ok("policy", "require-approval", "on")
    pending = admin.ok(
        "policy", "push", str(EXAMPLES / "large-jobs-need-approver"), "--reason", "again"
    )
    waiting = last + 2
    assert f"qplane policy approve {waiting}" in pending.stdout
    own = assert_one_line_error(admin("policy", "approve", str(waiting)))
    assert "author cannot approve" in own
    assert (
        f"version {waiting} is active" in second_admin.ok("policy", "approve", str(waiting)).stdout
    )

    assert "version 1 is active" in admin.ok("policy", "rollback", "1").stdout
    listed = admin.ok("policy", "versions").stdout
    assert "tests_failed" in listed
    assert "second admin approval: required" in listed
    shown = admin.ok("policy", "show", "1").stdout
    assert "active" in shown
    assert "+++ v1/policies.cedar" in shown
    text = admin.ok("policy", "show", "1", "--policies").stdout
    assert text == (EXAMPLES / examples[0] / "policy.cedar").read_text()
    admin.ok("policy", "require-approval", "off")


def test_remote_test_checks_the_tenants_directory(admin: Cli, tmp_path: Path) -> None:
    directory = _copy("large-jobs-need-approver", tmp_path)
    policy = directory / "policy.cedar"
    policy.write_text(policy.read_text().replace('"acme-approvers"', '"acme-unknown"'))
    (directory / "cases.yaml").write_text(
        (directory / "cases.yaml").read_text().replace("acme-approvers", "acme-unknown")
    )
    assert "cases passed" in admin.ok("policy", "test", str(directory)).stdout  # offline: fine
    remote = assert_one_line_error(admin("policy", "test", str(directory), "--remote"))
    assert "not an entity of this tenant" in remote
    assert "(at policy.cedar:" in remote
    passing = admin.ok("policy", "test", str(EXAMPLES / "qpu-business-hours"), "--remote")
    assert "cases passed" in passing.stdout


def test_explain_shows_the_decision_and_the_deciding_policy(
    admin: Cli, acme: TenantSession
) -> None:
    allowed = admin.ok(
        "policy", "explain", "--as", "admin@acme.example",
        "--action", "job.list", "--resource", f"project:{acme.project_id}",
    )  # fmt: skip
    assert "ALLOW: job.list" in allowed.stdout
    assert "baseline.role.tenant-admin" in allowed.stdout
    assert "permit" in allowed.stdout  # the policy text itself

    stepped = admin.ok(
        "policy", "explain", "--as", "admin@acme.example", "--no-mfa",
        "--action", "key.manage", "--resource", "tenant",
    )  # fmt: skip
    assert "DENY" in stepped.stdout
    assert "baseline.privileged-step-up" in stepped.stdout
    unknown = admin("policy", "explain", "--as", "x", "--action", "job.fly", "--resource", "tenant")
    assert "unknown action" in assert_one_line_error(unknown)
