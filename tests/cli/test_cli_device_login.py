"""`qplane login` without a password (RFC 8628), with MFA, and the step-up prompt, end to end."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from qplane.cli.login_flows import enrol_totp_unattended
from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient
from qplane.store.models_mfa_device import DeviceAuthorizationRow
from tests.cli.cli_harness import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    Cli,
    assert_one_line_error,
    first_id,
)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPlatform]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("device-data"),
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


def _pending_user_code(embedded: EmbeddedPlatform, deadline_s: float = 20.0) -> str:
    """The user code the CLI is showing, read from the store as the approver would read it."""
    end = time.monotonic() + deadline_s
    assert embedded.platform is not None
    query = select(DeviceAuthorizationRow.user_code).where(
        DeviceAuthorizationRow.status == "pending"
    )
    while time.monotonic() < end:
        with embedded.platform.database.engine.connect() as conn:
            codes = conn.execute(query).scalars().all()
        if codes:
            return str(codes[-1])
        time.sleep(0.1)
    raise AssertionError("the CLI never started a device login")


def _approve_in_background(embedded: EmbeddedPlatform, approve: bool = True) -> threading.Thread:
    def run() -> None:
        user_code = _pending_user_code(embedded)
        with QplaneClient(embedded.url) as approver:
            approver.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
            (approver.approve_device if approve else approver.deny_device)(user_code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_device_login_stores_both_tokens_privately(
    embedded: EmbeddedPlatform, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "config")
    approver = _approve_in_background(embedded)
    result = cli.ok("login", "--url", embedded.url)
    approver.join(timeout=30)
    assert "/device" in result.stdout
    assert "approve" in result.stdout
    assert "operator" in result.stdout
    stored = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    body = json.loads(stored.read_text())
    assert body["url"] == embedded.url
    assert body["token"]
    assert body["refresh_token"]
    assert body["token"] not in result.stdout
    assert "operator" in cli.ok("whoami").stdout


def test_denied_device_login_fails_with_one_line(
    embedded: EmbeddedPlatform, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "config")
    denier = _approve_in_background(embedded, approve=False)
    result = cli("login", "--url", embedded.url, "--device")
    denier.join(timeout=30)
    assert "denied" in assert_one_line_error(result)
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_password_login_asks_for_the_second_factor_and_step_up_prompts(
    embedded: EmbeddedPlatform, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "config")
    # A password-only session, made before the operator enrols TOTP (elsewhere).
    cli.ok("login", "--url", embedded.url, "--email", OPERATOR_EMAIL, "--password-stdin",
           input=OPERATOR_PASSWORD + "\n")  # fmt: skip
    with QplaneClient(embedded.url) as other:
        other.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        secret = enrol_totp_unattended(other)
    totp = pyotp.TOTP(secret)
    # The stale session meets the RFC 9470 challenge; the CLI asks for a code and retries.
    created = cli.ok("tenant", "create", "stepped", input=totp.at(time.time() + 30) + "\n")
    assert first_id(created.stdout, "ten")
    assert "second factor" in created.stderr
    # Logging in again with a password now needs the code (next stdin line).
    wrong = cli("login", "--url", embedded.url, "--email", OPERATOR_EMAIL, "--password-stdin",
                input=OPERATOR_PASSWORD + "\n000000\n")  # fmt: skip
    assert_one_line_error(wrong)
