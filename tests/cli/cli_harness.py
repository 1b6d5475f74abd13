"""Helpers for the CLI tests: `qplane` run as one user through CliRunner, and shared data.

A module of its own (not conftest) so that tests can import it by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from typer.testing import CliRunner, Result

from qplane.embedded import EmbeddedPlatform

OPERATOR_EMAIL: Final = "operator@cli-tests.example"
OPERATOR_PASSWORD: Final = "operator-password-for-tests"
ADMIN_PASSWORD: Final = "admin-password-for-tests"
SERVED_BACKENDS: Final = ("aer_statevector", "aer_mps")
UNSERVED_BACKEND: Final = "aer_density_matrix"
_ID: Final = re.compile(r"\b(ten|prj|usr|job|wrk|shr)_[0-9a-f]{32}\b")

BELL_QASM2: Final = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
GHZ_QASM3: Final = """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
c = measure q;
"""


def first_id(text: str, prefix: str) -> str:
    """The first id with *prefix* in a command's output."""
    for match in _ID.finditer(text):
        if match.group(1) == prefix:
            return match.group(0)
    raise AssertionError(f"no {prefix}_ id in output:\n{text}")


@dataclass
class Cli:
    """`qplane` as one user runs it: their own config dir, so sessions never mix."""

    config_dir: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from qplane.cli.main import app  # imported late: needs the whole platform importable

        env = {
            "QPLANE_CONFIG_DIR": str(self.config_dir),
            "QPLANE_URL": None,
            "QPLANE_TOKEN": None,
            "COLUMNS": None,
        }
        return CliRunner().invoke(app, list(args), input=input, env=env)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and require success; on failure show everything the command said."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (
            f"qplane {' '.join(args)} exited {result.exit_code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
        )
        return result


def assert_one_line_error(result: Result) -> str:
    """A failure is exactly one line on stderr, a non-zero exit, and no traceback."""
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@dataclass
class LivePlatform:
    embedded: EmbeddedPlatform
    data_dir: Path

    @property
    def url(self) -> str:
        return self.embedded.url


@dataclass
class TenantSession:
    name: str
    tenant_id: str
    project_id: str
    admin: Cli


def enrol_mfa(cli: Cli) -> str:
    """Enrol TOTP for the principal logged in as *cli* (through the SDK, as an authenticator
    app would) and store the stepped-up session it returns; returns the TOTP secret."""
    from qplane.cli import credentials
    from qplane.cli.login_flows import enrol_totp_unattended
    from qplane.sdk import QplaneClient

    path = cli.config_dir / credentials.FILE_NAME
    stored = credentials.load(path)
    with QplaneClient(stored.url, stored.token) as client:
        secret = enrol_totp_unattended(client)
        assert client.token is not None
        credentials.save(path, credentials.Credentials(url=stored.url, token=client.token))
    return secret


def make_tenant(name: str, operator: Cli, config_dir: Path, live: LivePlatform) -> TenantSession:
    """Tenant, project and admin made by the operator through the CLI; the admin logged in."""
    created = operator.ok("tenant", "create", name, "--max-running-jobs", "2")
    tenant_id = first_id(created.stdout, "ten")
    project_id = first_id(
        operator.ok("project", "create", "research", "--tenant", name).stdout, "prj"
    )
    email = f"admin@{name}.example"
    operator.ok(
        "user", "create", email, "--role", "tenant_admin", "--role", "member",
        "--tenant", tenant_id, "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    admin = Cli(config_dir)
    admin.ok(
        "login", "--url", live.url, "--email", email, "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    return TenantSession(name, tenant_id, project_id, admin)
