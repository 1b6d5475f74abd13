"""Failures the CLI meets before any server answers: one line on stderr, non-zero exit."""

from __future__ import annotations

import os
from pathlib import Path

from qplane.cli import credentials
from tests.cli.cli_harness import Cli, assert_one_line_error


def test_missing_circuit_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.qasm"
    result = cli("submit", str(missing), "--backend", "aer_statevector", "--project", "p")
    line = assert_one_line_error(result)
    assert "cannot read" in line
    assert str(missing) in line


def test_unknown_format_is_one_line(cli: Cli, tmp_path: Path) -> None:
    circuit = tmp_path / "c.qasm"
    circuit.write_text("OPENQASM 3.0;\nqubit q;\n")
    result = cli("submit", str(circuit), "--backend", "b", "--project", "p", "--format", "quil")
    assert "unknown format" in assert_one_line_error(result)


def test_commands_without_a_session_say_to_log_in(cli: Cli) -> None:
    for args in (("whoami",), ("backends",), ("jobs", "--project", "p"), ("job", "job_x")):
        assert "qplane login" in assert_one_line_error(cli(*args))


def test_a_group_readable_credentials_file_is_refused(cli: Cli) -> None:
    path = cli.config_dir / credentials.FILE_NAME
    credentials.save(path, credentials.Credentials("http://127.0.0.1:9", "secret-token"))
    os.chmod(path, 0o640)
    line = assert_one_line_error(cli("whoami"))
    assert "group or others" in line
    assert "secret-token" not in line


def test_unreachable_control_plane_is_one_line(cli: Cli) -> None:
    result = cli(
        "login", "--url", "http://127.0.0.1:1", "--email", "a@b.example", "--password-stdin",
        input="some-password\n",
    )  # fmt: skip
    assert "cannot reach the control plane" in assert_one_line_error(result)
    assert not (cli.config_dir / credentials.FILE_NAME).exists()


def test_login_refuses_plain_http_to_a_remote_host(cli: Cli) -> None:
    result = cli(
        "login", "--url", "http://qplane.example", "--email", "a@b.example", "--password-stdin",
        input="some-password\n",
    )  # fmt: skip
    assert "plain http" in assert_one_line_error(result)


def test_empty_password_from_stdin_is_refused(cli: Cli) -> None:
    result = cli(
        "login", "--url", "http://127.0.0.1:1", "--email", "a@b.example", "--password-stdin",
        input="\n",
    )  # fmt: skip
    assert "empty" in assert_one_line_error(result)


def test_logout_without_a_session_is_fine(cli: Cli) -> None:
    assert "not logged in" in cli.ok("logout").stdout


def test_worker_register_refuses_to_send_a_private_key(cli: Cli, tmp_path: Path) -> None:
    private = tmp_path / "private.jwk"
    private.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "BBBB"}')
    result = cli("worker", "register", "w1", "--public-jwk-file", str(private), "--backend", "b")
    assert "PRIVATE" in assert_one_line_error(result)
    pem = tmp_path / "worker.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = cli("worker", "register", "w1", "--public-jwk-file", str(pem), "--backend", "b")
    assert "not a JWK" in assert_one_line_error(result)
