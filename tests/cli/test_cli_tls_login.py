"""`qplane login --ca-file` against a TLS platform: stored with the session, used later on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from qplane.cli import credentials
from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from tests.cli.cli_harness import OPERATOR_EMAIL, OPERATOR_PASSWORD, Cli, assert_one_line_error

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def tls_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPlatform]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("tls-data"),
        host="127.0.0.1",
        port=0,
        public_url=None,
        database_url=None,
        tls=True,
    )
    embedded = EmbeddedPlatform(settings, workers=0)
    embedded.start()
    try:
        embedded.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(autouse=True)
def _no_ambient_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QPLANE_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


def _ca(embedded: EmbeddedPlatform) -> Path:
    assert embedded.ca_file is not None
    return embedded.ca_file


def _login(cli: Cli, url: str, *extra: str) -> None:
    cli.ok(
        "login", "--url", url, "--email", OPERATOR_EMAIL, "--password-stdin", *extra,
        input=OPERATOR_PASSWORD + "\n",
    )  # fmt: skip


def test_login_with_ca_file_stores_it_and_later_commands_use_it(
    tls_live: EmbeddedPlatform, cli: Cli
) -> None:
    _login(cli, tls_live.url, "--ca-file", str(_ca(tls_live)))
    stored = json.loads((cli.config_dir / credentials.FILE_NAME).read_text())
    assert stored["ca_file"] == str(_ca(tls_live).resolve())
    assert re.search(r"kind\s+operator", cli.ok("whoami").stdout)


def test_login_to_an_untrusted_server_says_to_pass_the_ca_file(
    tls_live: EmbeddedPlatform, cli: Cli
) -> None:
    result = cli(
        "login", "--url", tls_live.url, "--email", OPERATOR_EMAIL, "--password-stdin",
        input=OPERATOR_PASSWORD + "\n",
    )  # fmt: skip
    line = assert_one_line_error(result)
    assert "not trusted" in line
    assert "--ca-file" in line
    assert not (cli.config_dir / credentials.FILE_NAME).exists()


def test_qplane_ca_file_in_the_environment_serves_as_the_option(
    tls_live: EmbeddedPlatform, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPLANE_CA_FILE", str(_ca(tls_live)))
    _login(cli, tls_live.url)
    assert re.search(r"kind\s+operator", cli.ok("whoami").stdout)


def test_a_ca_file_without_a_certificate_is_refused_before_any_request(
    tls_live: EmbeddedPlatform, cli: Cli, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello\n")
    result = cli("login", "--url", tls_live.url, "--email", OPERATOR_EMAIL, "--ca-file", str(bogus))
    assert "no PEM certificate" in assert_one_line_error(result)


def test_an_old_session_file_without_ca_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / credentials.FILE_NAME
    credentials.save(path, credentials.Credentials("https://q.example", "token"))
    assert credentials.load(path).ca_file is None
    credentials.save(path, credentials.Credentials("https://q.example", "token", ca_file="/ca"))
    assert credentials.load(path).ca_file == "/ca"
    env = {"QPLANE_CA_FILE": "/other-ca"}
    assert credentials.resolve(path, None, env).ca_file == "/other-ca"
