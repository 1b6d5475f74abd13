"""Platform signing keys: private on disk, public in the JWKS, kid = thumbprint."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from joserfc import jwk

from qplane.crypto import InsecureKeyFile
from qplane.identity import _jose
from qplane.identity.signing import SigningKey, SigningKeys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_key_is_created_private(tmp_path: Path) -> None:
    keys = SigningKeys.load_or_create(tmp_path)
    directory = tmp_path / "signing"
    files = sorted(directory.iterdir())
    assert [path.name for path in files] == ["ed25519-0001.pem"]
    assert _mode(directory) == 0o700
    assert _mode(files[0]) == 0o600
    assert b"PRIVATE KEY" in files[0].read_bytes()
    assert SigningKeys.load_or_create(tmp_path).current.kid == keys.current.kid


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    keys = SigningKeys.load_or_create(tmp_path)
    public = keys.jwks()["keys"][0]
    members = {name: public[name] for name in ("kty", "crv", "x")}
    assert public["kid"] == keys.current.kid == jwk.thumbprint(members)


# RFC 8037, appendix A: the Ed25519 example key, its thumbprint and a JWS made with it.
RFC8037_KEY: dict[str, str | list[str]] = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def test_kid_and_signature_match_published_vectors() -> None:
    key = SigningKey.of(jwk.OKPKey.import_key(RFC8037_KEY))
    assert key.kid == RFC8037_THUMBPRINT
    assert _jose.verify_compact(RFC8037_JWS, key.public) == b"Example of Ed25519 signing"
    # Ed25519 is deterministic: signing the same input reproduces the vector.
    assert _jose.sign_compact({}, b"Example of Ed25519 signing", key.private) == RFC8037_JWS


def test_jwks_publishes_public_keys_only() -> None:
    keys = SigningKeys.ephemeral()
    keys.rotate()
    published = keys.jwks()["keys"]
    assert len(published) == 2
    for entry in published:
        assert "d" not in entry
        assert set(entry) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (entry["kty"], entry["crv"], entry["alg"], entry["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )


def test_rotation_adds_a_current_key_and_keeps_old_ones_published(tmp_path: Path) -> None:
    keys = SigningKeys.load_or_create(tmp_path)
    old = keys.current.kid
    new = keys.rotate().kid
    assert new != old
    assert keys.current.kid == new
    assert {entry["kid"] for entry in keys.jwks()["keys"]} == {old, new}
    assert keys.public_key(old) is not None
    assert keys.public_key("nope") is None
    reloaded = SigningKeys.load_or_create(tmp_path)
    assert reloaded.current.kid == new
    assert _mode(tmp_path / "signing" / "ed25519-0002.pem") == 0o600


def test_reload_picks_up_a_key_rotated_by_another_process(tmp_path: Path) -> None:
    here, there = SigningKeys.load_or_create(tmp_path), SigningKeys.load_or_create(tmp_path)
    new = there.rotate().kid
    assert here.public_key(new) is None
    here.reload()
    assert here.public_key(new) is not None


def test_group_readable_signing_key_is_refused(tmp_path: Path) -> None:
    SigningKeys.load_or_create(tmp_path)
    os.chmod(tmp_path / "signing" / "ed25519-0001.pem", 0o640)
    with pytest.raises(InsecureKeyFile):
        SigningKeys.load_or_create(tmp_path)


def test_repr_shows_kids_not_keys() -> None:
    keys = SigningKeys.ephemeral()
    text = repr(keys) + repr(keys.current)
    assert keys.current.kid in text
    assert "PRIVATE" not in text
    assert "'d'" not in text
