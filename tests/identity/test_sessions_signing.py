"""Signing-key rotation: published before use, kept until its tokens expire, no restart needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qplane.domain.errors import Unauthenticated
from qplane.identity import _jose
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer, TokenVerifier

ISSUER, AUDIENCE = "https://qplane.test", "qplane-api"
AHEAD, LIFETIME = 900, 630


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _kids(keys: SigningKeys) -> set[str]:
    return {entry["kid"] for entry in keys.jwks()["keys"]}


def test_rotated_key_is_published_at_once_but_signs_only_after_the_delay(
    tmp_path: Path, clock: Clock
) -> None:
    keys = SigningKeys.load_or_create(tmp_path, clock=clock)
    old = keys.current.kid
    new = keys.rotate(AHEAD).kid
    assert _kids(keys) == {old, new}
    assert keys.current.kid == old
    meta = json.loads((tmp_path / "signing" / "ed25519-0002.json").read_text())
    assert meta == {"not_before": int(clock.now) + AHEAD}
    clock.now += AHEAD
    assert keys.current.kid == new
    issuer = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=clock)
    token, _ = issuer.issue("usr_1", "ten_a", (), "user")
    assert _jose.peek_header(token)["kid"] == new


def test_another_process_follows_the_schedule_after_reload(tmp_path: Path, clock: Clock) -> None:
    server = SigningKeys.load_or_create(tmp_path, clock=clock, reload_interval_s=5)
    operator = SigningKeys.load_or_create(tmp_path, clock=clock)
    new = operator.rotate(AHEAD).kid
    clock.now += 5  # the server rescans its directory at most every 5 s
    assert new in _kids(server)
    assert server.current.kid != new
    clock.now += AHEAD
    assert server.current.kid == new


def test_unknown_kid_reload_is_rate_limited(tmp_path: Path, clock: Clock) -> None:
    server = SigningKeys.load_or_create(tmp_path, clock=clock, reload_interval_s=5)
    operator = SigningKeys.load_or_create(tmp_path, clock=clock)
    operator.rotate()  # signs at once (no delay), e.g. an emergency rotation
    token, _ = TokenIssuer(operator, ISSUER, AUDIENCE, 600, clock=clock).issue(
        "usr_1", "ten_a", (), "user"
    )
    verifier = TokenVerifier(server, ISSUER, AUDIENCE, clock=clock)
    with pytest.raises(Unauthenticated, match="signing key unknown"):
        verifier.verify(token)  # within the interval: no rescan
    clock.now += 5
    assert verifier.verify(token).sub == "usr_1"  # the unknown kid triggered the reload


def test_old_key_stays_until_its_last_token_expired_then_is_pruned(
    tmp_path: Path, clock: Clock
) -> None:
    keys = SigningKeys.load_or_create(tmp_path, clock=clock)
    old = keys.current.kid
    issuer = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=clock)
    new = keys.rotate(AHEAD).kid
    clock.now += AHEAD - 1
    last_old_token, _ = issuer.issue("usr_1", "ten_a", (), "user")
    clock.now += 1
    assert keys.prune(LIFETIME) == []  # the new key has only just started signing
    clock.now += LIFETIME - 31
    assert keys.prune(LIFETIME) == []
    TokenVerifier(keys, ISSUER, AUDIENCE, clock=clock).verify(last_old_token)
    clock.now += 31
    assert keys.prune(LIFETIME) == [old]
    assert _kids(keys) == {new}
    assert [p.name for p in sorted((tmp_path / "signing").iterdir())] == [
        "ed25519-0002.json",
        "ed25519-0002.pem",
    ]
    assert _kids(SigningKeys.load_or_create(tmp_path, clock=clock)) == {new}


def test_an_emergency_rotation_keeps_the_old_key_for_a_token_lifetime(
    tmp_path: Path, clock: Clock
) -> None:
    keys = SigningKeys.load_or_create(tmp_path, clock=clock)
    old = keys.current.kid
    keys.rotate()  # no publish-ahead: signs at once
    clock.now += 60
    assert keys.prune(LIFETIME) == []
    clock.now += LIFETIME
    assert keys.prune(LIFETIME) == [old]


def test_current_and_staged_keys_are_never_pruned(tmp_path: Path, clock: Clock) -> None:
    keys = SigningKeys.load_or_create(tmp_path, clock=clock)
    keys.rotate(AHEAD)
    clock.now += AHEAD - 1
    assert keys.prune(0) == []
    assert len(_kids(keys)) == 2


def test_an_unreadable_schedule_never_makes_a_key_sign(tmp_path: Path, clock: Clock) -> None:
    keys = SigningKeys.load_or_create(tmp_path, clock=clock)
    old = keys.current.kid
    keys.rotate(AHEAD)
    (tmp_path / "signing" / "ed25519-0002.json").write_text("{not json")
    clock.now += AHEAD * 10
    assert SigningKeys.load_or_create(tmp_path, clock=clock).current.kid == old


def test_cli_rotate_signing_stages_a_key_for_the_servers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from qplane.cli.main import app

    data_dir = tmp_path / "data"
    server = SigningKeys.load_or_create(data_dir / "keys", reload_interval_s=0)
    old = server.current.kid
    result = CliRunner().invoke(
        app, ["keys", "rotate-signing", "--data-dir", str(data_dir), "--publish-ahead", "600"]
    )
    assert result.exit_code == 0, result.output
    assert "published now, signing in 600 s" in " ".join(result.output.split())
    assert len(_kids(server)) == 2  # the running server publishes it without a restart
    assert server.current.kid == old  # ... and does not sign with it yet
