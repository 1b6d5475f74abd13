"""The RFC 9068 profile: amr, acr, auth_time, cnf.jkt and client_id are issued and checked."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt

from qplane.domain.errors import Unauthenticated
from qplane.identity import _jose
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import TokenIssuer, TokenVerifier

ISSUER, AUDIENCE, NOW = "https://qplane.test", "qplane-api", 1_900_000_000


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.ephemeral()


def _verifier(keys: SigningKeys) -> TokenVerifier:
    return TokenVerifier(keys, ISSUER, AUDIENCE, clock=lambda: NOW)


def _signed(keys: SigningKeys, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "usr_1", "tenant": "ten_a", "roles": [],
        "kind": "user", "jti": "j", "iat": NOW, "nbf": NOW, "exp": NOW + 60,
        "amr": ["pwd"], "acr": "urn:qplane:acr:pwd", "auth_time": NOW,
    }  # fmt: skip
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not ...}
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid}
    return jwt.encode(header, claims, keys.current.private, registry=_jose.REGISTRY)


def test_profile_claims_round_trip(keys: SigningKeys) -> None:
    issuer = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=lambda: NOW)
    token, issued = issuer.issue(
        "usr_1", "ten_a", (), "user",
        amr=("pwd", "otp"), acr="urn:qplane:acr:mfa", auth_time=NOW - 100,
        cnf_jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", client_id="qplane-cli",
    )  # fmt: skip
    claims = _verifier(keys).verify(token)
    assert claims == issued
    assert (claims.amr, claims.acr, claims.auth_time) == (
        ("pwd", "otp"), "urn:qplane:acr:mfa", NOW - 100,
    )  # fmt: skip
    assert claims.cnf_jkt == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    assert claims.client_id == "qplane-cli"


def test_unbound_token_has_no_cnf_and_defaults_to_ten_minutes(keys: SigningKeys) -> None:
    from qplane.config import Settings

    assert Settings().token_ttl_s == 600
    _token, issued = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=lambda: NOW).issue(
        "usr_1", "ten_a", (), "user"
    )
    assert issued.cnf_jkt is None
    assert issued.client_id is None
    assert issued.auth_time == NOW
    assert issued.exp - issued.iat == 600


def test_issuer_never_backdates_authentication_into_the_future(keys: SigningKeys) -> None:
    issued = TokenIssuer(keys, ISSUER, AUDIENCE, 600, clock=lambda: NOW).issue(
        "usr_1", "ten_a", (), "user", auth_time=NOW + 500
    )[1]
    assert issued.auth_time == NOW


@pytest.mark.parametrize(
    "overrides",
    [
        {"amr": ...},
        {"acr": ...},
        {"amr": []},
        {"amr": "pwd"},
        {"amr": ["pwd", 7]},
        {"acr": ""},
        {"auth_time": "yesterday"},
        {"auth_time": NOW + 10},
        {"cnf": {"jkt": 1}},
        {"cnf": {"jkt": "a", "jwk": {}}},
        {"cnf": "a"},
        {"client_id": 5},
        {"client_id": None},
    ],
)
def test_ill_typed_profile_claims_are_refused(keys: SigningKeys, overrides: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated, match=r"token (claims invalid|missing required claims)"):
        _verifier(keys).verify(_signed(keys, **overrides))
