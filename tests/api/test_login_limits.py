"""Password guessing is limited per account and per source address, on every server at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qplane.api.app import create_app
from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.domain.audit import PLATFORM_LOG
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD
from tests.api.two_servers import another_server

PER_ACCOUNT = 3
PER_SOURCE = 8
WRONG = "wrong-password-1"


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API fixture's platform with small limits, so reaching them takes few argon2 checks."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        login_max_failures_per_account=PER_ACCOUNT,
        login_max_failures_per_source=PER_SOURCE,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


def _login(client: TestClient, email: str, password: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/auth/login", json={"email": email, "password": password}
    )
    return response


def _platform_denials(platform: Platform) -> list[str]:
    with platform.database.unit_of_work() as uow:
        return [
            entry.detail or ""
            for entry in uow.audit.entries(PLATFORM_LOG)
            if entry.action == "auth.login" and entry.outcome.value == "denied"
        ]


def test_wrong_passwords_lock_the_account_on_every_server_even_for_the_right_password(
    client: TestClient, platform: Platform
) -> None:
    for _ in range(PER_ACCOUNT):
        assert _login(client, OPERATOR_EMAIL, WRONG).status_code == 401
    with another_server(platform) as second:
        locked = _login(second, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    body = locked.json()
    assert body["type"].endswith("/quota-exceeded")
    assert "access_token" not in body
    assert "mfa_token" not in body
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert body["retry_after_s"] == int(locked.headers["Retry-After"])


def test_an_unknown_email_is_locked_exactly_like_a_real_one(client: TestClient) -> None:
    def answers(email: str) -> tuple[list[int], str, bool]:
        statuses = [_login(client, email, WRONG).status_code for _ in range(PER_ACCOUNT + 1)]
        last = _login(client, email, WRONG)
        return [*statuses, last.status_code], last.json()["detail"], "Retry-After" in last.headers

    real, ghost = answers(OPERATOR_EMAIL), answers("ghost@qplane.test")
    assert real == ghost
    assert real[0] == [401] * PER_ACCOUNT + [429, 429]


def test_a_lockout_is_audited_as_a_refusal_without_the_password(
    client: TestClient, platform: Platform
) -> None:
    secret_guess = "not-the-password-but-secret-7"
    for _ in range(PER_ACCOUNT):
        _login(client, OPERATOR_EMAIL, secret_guess)
    assert _login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 429
    denials = _platform_denials(platform)
    assert any("too many failed logins for this account" in detail for detail in denials)
    assert not any(secret_guess in d or OPERATOR_PASSWORD in d for d in denials)


def test_wrong_passwords_from_one_address_lock_that_address_only(platform: Platform) -> None:
    app = create_app(platform, run_sweeper=False)
    with (
        TestClient(app, client=("203.0.113.7", 40000)) as attacker,
        TestClient(app, client=("198.51.100.2", 40000)) as colleague,
    ):
        for n in range(PER_SOURCE):  # one guess per account: no account limit is reached
            assert _login(attacker, f"user{n}@qplane.test", WRONG).status_code == 401
        refused = _login(attacker, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        assert refused.status_code == 429
        assert "from this address" in refused.json()["detail"]
        assert _login(colleague, OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 200
    assert any("(source 203.0.113.7)" in detail for detail in _platform_denials(platform))


def test_successful_logins_do_not_count(client: TestClient) -> None:
    for _ in range(PER_ACCOUNT + 2):
        assert _login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD).status_code == 200
