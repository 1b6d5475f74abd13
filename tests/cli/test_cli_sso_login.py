"""`qplane login --sso TENANT` and `qplane sso login TENANT`: the device grant, via SSO.

The browser side is tests/e2e/test_device_login_e2e.py (a real IdP); here
the CLI's own behaviour: the URL it prints, and one clear line on errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient
from qplane.store.models_mfa_device import DeviceAuthorizationRow
from tests.cli.cli_harness import OPERATOR_EMAIL, OPERATOR_PASSWORD, Cli, assert_one_line_error


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPlatform]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("sso-login-data"),
        host="127.0.0.1",
        port=0,
        public_url=None,
        database_url=None,
        device_poll_interval_s=1,
    )
    platform = EmbeddedPlatform(settings, workers=0)
    platform.start()
    try:
        platform.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        yield platform
    finally:
        platform.stop()


def _deny_when_pending(embedded: EmbeddedPlatform) -> threading.Thread:
    """Someone signed in elsewhere denies the code the CLI is waiting on."""

    def run() -> None:
        assert embedded.platform is not None
        query = select(DeviceAuthorizationRow.user_code).where(
            DeviceAuthorizationRow.status == "pending"
        )
        end = time.monotonic() + 20
        while time.monotonic() < end:
            with embedded.platform.database.engine.connect() as conn:
                codes = conn.execute(query).scalars().all()
            if codes:
                with QplaneClient(embedded.url) as approver:
                    approver.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
                    approver.deny_device(str(codes[-1]))
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", [("sso", "login", "acme"), ("login", "--sso", "acme")])
def test_sso_login_prints_a_url_to_the_tenants_sso_and_reports_a_denial_in_one_line(
    embedded: EmbeddedPlatform, tmp_path: Path, command: tuple[str, ...]
) -> None:
    denier = _deny_when_pending(embedded)
    result = Cli(tmp_path / "config")(*command, "--url", embedded.url)
    denier.join(timeout=30)

    assert "denied" in assert_one_line_error(result)
    assert f"{embedded.url}/device?user_code=" in result.stdout
    assert "&tenant=acme" in result.stdout
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_an_invalid_tenant_name_fails_at_once_in_one_line(tmp_path: Path) -> None:
    result = Cli(tmp_path / "config")(
        "login", "--sso", "Not A Tenant", "--url", "http://127.0.0.1:9"
    )
    assert "tenant" in assert_one_line_error(result)


def test_provider_needs_sso_and_sso_takes_no_password(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "config")
    url = ("--url", "http://127.0.0.1:9")
    assert "--sso" in assert_one_line_error(cli("login", "--provider", "okta", *url))
    mixed = cli("login", "--sso", "acme", "--email", "a@acme.test", *url)
    assert "browser" in assert_one_line_error(mixed)


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    result = Cli(tmp_path / "config")("sso", "login", "acme", "--url", "http://127.0.0.1:9")
    assert "cannot reach" in assert_one_line_error(result)
