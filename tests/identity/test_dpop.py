"""DPoP proofs (RFC 9449): every check, with the replay guard on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from qplane.domain.errors import Unauthenticated
from qplane.identity.dpop import (
    REGISTRY,
    DPoPContext,
    DPoPVerifier,
    InvalidDPoP,
    access_token_hash,
    check_sender,
    normalise_htu,
)
from qplane.sdk.dpop import DPoPKey
from qplane.store import Database

URL = "https://api.qplane.test/v1/jobs"
TOKEN = "eyJ.access.token"


def _proof(
    key: ECKey | OKPKey | None = None,
    *,
    header: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    key = key or ECKey.generate_key("P-256", private=True)
    alg = "ES256" if isinstance(key, ECKey) else "EdDSA"
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12),
        "htm": "POST",
        "htu": URL,
        "iat": int(time.time()),
        "ath": access_token_hash(TOKEN),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    protected.update(header or {})
    return jws.serialize_compact(protected, json.dumps(claims).encode(), key, registry=REGISTRY)


@pytest.fixture
def verifier(database: Database) -> DPoPVerifier:
    return DPoPVerifier(database)


def test_a_valid_proof_names_its_key(verifier: DPoPVerifier) -> None:
    key = ECKey.generate_key("P-256", private=True)
    assert verifier.verify(_proof(key), "POST", URL, TOKEN) == key.thumbprint()


def test_eddsa_proofs_are_accepted(verifier: DPoPVerifier) -> None:
    key = OKPKey.generate_key("Ed25519", private=True)
    assert verifier.verify(_proof(key), "POST", URL, TOKEN) == key.thumbprint()


def test_the_sdk_proof_is_accepted(verifier: DPoPVerifier) -> None:
    key = DPoPKey.generate()
    proof = key.proof("post", URL + "?x=1", TOKEN)
    assert verifier.verify(proof, "POST", URL, TOKEN) == key.jkt


def test_wrong_method_is_refused(verifier: DPoPVerifier) -> None:
    with pytest.raises(InvalidDPoP, match="htm"):
        verifier.verify(_proof(htm="GET"), "POST", URL, TOKEN)


def test_wrong_url_is_refused(verifier: DPoPVerifier) -> None:
    with pytest.raises(InvalidDPoP, match="htu"):
        verifier.verify(_proof(htu="https://api.qplane.test/v1/other"), "POST", URL, TOKEN)


def test_urls_are_normalised() -> None:
    assert normalise_htu("HTTPS://API.qplane.test:443/v1/jobs?a=1#f") == URL
    assert normalise_htu("http://h:8080/p") != normalise_htu("http://h:8081/p")


@pytest.mark.parametrize(("offset", "reason"), [(-120, "too old"), (60, "in the future")])
def test_iat_outside_the_window_is_refused(
    verifier: DPoPVerifier, offset: int, reason: str
) -> None:
    with pytest.raises(InvalidDPoP, match=reason):
        verifier.verify(_proof(iat=int(time.time()) + offset), "POST", URL, TOKEN)


def test_a_replayed_proof_is_refused(verifier: DPoPVerifier) -> None:
    proof = _proof()
    verifier.verify(proof, "POST", URL, TOKEN)
    with pytest.raises(InvalidDPoP, match="already used"):
        verifier.verify(proof, "POST", URL, TOKEN)


def test_replay_guard_holds_across_servers(database: Database) -> None:
    proof = _proof()
    DPoPVerifier(database).verify(proof, "POST", URL, TOKEN)
    with pytest.raises(InvalidDPoP, match="already used"):
        DPoPVerifier(database).verify(proof, "POST", URL, TOKEN)  # a second API server


def test_wrong_ath_is_refused(verifier: DPoPVerifier) -> None:
    with pytest.raises(InvalidDPoP, match="ath"):
        verifier.verify(_proof(ath=access_token_hash("another")), "POST", URL, TOKEN)
    with pytest.raises(InvalidDPoP, match="ath"):
        verifier.verify(_proof(ath=None), "POST", URL, TOKEN)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"typ": "JWT"}, "type"),
        ({"kid": "x"}, "header"),
        ({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}}, "public"),
    ],
)
def test_bad_headers_are_refused(
    verifier: DPoPVerifier, header: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidDPoP, match=reason):
        verifier.verify(_proof(header=header), "POST", URL, TOKEN)


def test_a_signature_by_another_key_is_refused(verifier: DPoPVerifier) -> None:
    other = ECKey.generate_key("P-256", private=True)
    with pytest.raises(InvalidDPoP, match="signature"):
        verifier.verify(_proof(header={"jwk": other.as_dict(private=False)}), "POST", URL, TOKEN)


def test_alg_none_is_refused(verifier: DPoPVerifier) -> None:
    _, payload, _ = _proof().split(".")

    none = base64.urlsafe_b64encode(b'{"typ":"dpop+jwt","alg":"none","jwk":{}}').rstrip(b"=")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{none.decode()}.{payload}.", "POST", URL, TOKEN)


def test_a_bound_token_needs_the_dpop_scheme_a_proof_and_the_same_key(
    verifier: DPoPVerifier,
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    jkt = key.thumbprint()
    good = DPoPContext("DPoP", _proof(key), "POST", URL)
    check_sender(verifier, TOKEN, jkt, good)
    with pytest.raises(InvalidDPoP, match="DPoP scheme"):
        check_sender(verifier, TOKEN, jkt, DPoPContext("Bearer", _proof(key), "POST", URL))
    with pytest.raises(InvalidDPoP, match="proof required"):
        check_sender(verifier, TOKEN, jkt, DPoPContext("DPoP", None, "POST", URL))
    with pytest.raises(InvalidDPoP, match="does not match the token's key"):
        check_sender(verifier, TOKEN, jkt, DPoPContext("DPoP", _proof(), "POST", URL))
    with pytest.raises(InvalidDPoP, match="not bound"):
        check_sender(verifier, TOKEN, None, DPoPContext("DPoP", _proof(), "POST", URL))
    check_sender(verifier, TOKEN, None, DPoPContext("Bearer", None, "POST", URL))


def test_refusals_carry_the_dpop_challenge() -> None:
    assert InvalidDPoP("x").www_authenticate.startswith("DPoP ")
