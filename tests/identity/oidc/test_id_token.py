"""ID token verification (OpenID Connect Core §3.1.3.7), with keys made here by joserfc."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from qplane.domain.errors import Unauthenticated
from qplane.identity.oidc.id_token import IdTokenExpectations, token_kid, verify_id_token

ISSUER = "https://idp.acme.test"
CLIENT = "qplane-acme"
NONCE = "n" * 43
EXPECTED = IdTokenExpectations(ISSUER, CLIENT, NONCE, ("RS256",))
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}, private=True)
KEYS = KeySet([KEY])


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "u-1", "iat": now, "exp": now + 300}
    claims |= {"nonce": NONCE, "email": "a@acme.test"}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _sign(claims: dict[str, Any], key: RSAKey = KEY, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def test_a_valid_id_token_is_accepted() -> None:
    claims = verify_id_token(_sign(_claims()), KEYS, EXPECTED)
    assert claims["sub"] == "u-1"
    assert token_kid(_sign(_claims())) == "k1"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://idp.globex.test"}, "issuer"),
        ({"aud": "qplane-globex"}, "audience"),
        ({"aud": ["qplane-globex", "other"]}, "audience"),
        ({"aud": [CLIENT, "other"]}, "authorized party"),  # several audiences need azp
        ({"azp": "qplane-globex"}, "authorized party"),
        ({"nonce": "x" * 43}, "nonce"),
        ({"nonce": None}, "missing"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 3600}, "future"),
        ({"sub": None}, "missing"),
    ],
)
def test_a_token_breaking_a_rule_is_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        verify_id_token(_sign(_claims(**changes)), KEYS, EXPECTED)


def test_several_audiences_with_our_azp_are_accepted() -> None:
    token = _sign(_claims(aud=[CLIENT, "other"], azp=CLIENT))
    assert verify_id_token(token, KEYS, EXPECTED)["azp"] == CLIENT


def test_a_token_signed_by_another_key_is_refused() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    with pytest.raises(Unauthenticated, match="signature"):
        verify_id_token(_sign(_claims(), other), KEYS, EXPECTED)


def test_an_unsigned_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = _sign(_claims()).split(".")[1]
    with pytest.raises(Unauthenticated):
        verify_id_token(f"{header}.{body}.", KEYS, EXPECTED)


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    """The classic confusion attack, forged by hand (joserfc itself refuses to make it)."""
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(KEY.as_pem(private=False), f"{header}.{body}".encode(), hashlib.sha256)
    forged = f"{header}.{body}.{_b64(mac.digest())}"
    with pytest.raises(Unauthenticated):
        verify_id_token(forged, KEYS, IdTokenExpectations(ISSUER, CLIENT, NONCE, ("HS256",)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b", "é.é.é", "x" * 20000])
def test_malformed_tokens_are_refused(value: str) -> None:
    with pytest.raises(Unauthenticated):
        token_kid(value)
