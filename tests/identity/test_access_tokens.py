"""Access tokens: every forgery, confusion and staleness is refused.

The malicious tokens are built here, by hand or with joserfc, exactly as an
attacker would build them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import OKPKey

from qplane.domain.errors import Unauthenticated
from qplane.identity import _jose
from qplane.identity.signing import SigningKeys
from qplane.identity.tokens import AccessClaims, TokenIssuer, TokenVerifier

ISSUER = "https://qplane.example"
AUDIENCE = "qplane-api"
NOW = 1_900_000_000


def _clock(at: float = NOW) -> Any:
    return lambda: at


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.ephemeral()


@pytest.fixture
def issuer(keys: SigningKeys) -> TokenIssuer:
    return TokenIssuer(keys, ISSUER, AUDIENCE, 900, clock=_clock())


@pytest.fixture
def verifier(keys: SigningKeys) -> TokenVerifier:
    return TokenVerifier(keys, ISSUER, AUDIENCE, clock=_clock())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "usr_1",
        "tenant": "ten_a",
        "roles": ["member"],
        "kind": "user",
        "jti": "jti-1",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 300,
        "amr": ["pwd"],
        "acr": "urn:qplane:acr:pwd",
        "auth_time": NOW,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not ...}


def _signed(keys: SigningKeys, claims: dict[str, Any], **header: Any) -> str:
    """A correctly signed token with our current key, for testing claim checks."""
    full_header = {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid, **header}
    return jwt.encode(full_header, claims, keys.current.private, registry=_jose.REGISTRY)


def _refused(verifier: TokenVerifier, token: str, reason: str, audience: str | None = None) -> None:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token, audience)
    message = str(caught.value)
    assert message == reason
    assert "\n" not in message
    if len(token) > 10:
        assert token not in message
        assert token.split(".")[0] not in message


# --- the good path ------------------------------------------------------------


def test_issued_token_verifies_to_the_same_claims(
    issuer: TokenIssuer, verifier: TokenVerifier, keys: SigningKeys
) -> None:
    token, issued = issuer.issue("usr_1", "ten_a", {"member", "viewer"}, "user")
    assert verifier.verify(token) == issued
    assert issued == AccessClaims(
        sub="usr_1",
        tenant="ten_a",
        roles=frozenset({"member", "viewer"}),
        kind="user",
        jti=issued.jti,
        iat=NOW,
        exp=NOW + 900,
        iss=ISSUER,
        aud=AUDIENCE,
        amr=("pwd",),
        acr="urn:qplane:acr:pwd",
        auth_time=NOW,
    )
    header = _jose.peek_header(token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid}


def test_jti_is_unique_per_token(issuer: TokenIssuer) -> None:
    jtis = {issuer.issue("usr_1", "ten_a", (), "user")[1].jti for _ in range(20)}
    assert len(jtis) == 20


def test_operator_and_worker_tokens(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token, _ = issuer.issue("usr_op", None, {"operator"}, "operator")
    assert verifier.verify(token).tenant is None
    token, _ = issuer.issue("wrk_1", "ten_a", (), "worker", audience="qplane-worker", ttl_s=60)
    claims = verifier.verify(token, audience="qplane-worker")
    assert (claims.kind, claims.aud, claims.exp) == ("worker", "qplane-worker", NOW + 60)


def test_verifies_from_a_published_jwks(issuer: TokenIssuer, keys: SigningKeys) -> None:
    token, issued = issuer.issue("usr_1", "ten_a", (), "user")
    from_jwks = TokenVerifier(json.loads(json.dumps(keys.jwks())), ISSUER, AUDIENCE, clock=_clock())
    assert from_jwks.verify(token) == issued


def test_tokens_signed_before_rotation_still_verify(
    issuer: TokenIssuer, verifier: TokenVerifier, keys: SigningKeys
) -> None:
    before, _ = issuer.issue("usr_1", "ten_a", (), "user")
    keys.rotate()
    after, _ = issuer.issue("usr_1", "ten_a", (), "user")
    assert _jose.peek_header(after)["kid"] == keys.current.kid != _jose.peek_header(before)["kid"]
    verifier.verify(before)
    verifier.verify(after)


def test_leeway_tolerates_small_clock_skew(issuer: TokenIssuer, keys: SigningKeys) -> None:
    token, _ = issuer.issue("usr_1", "ten_a", (), "user", ttl_s=60)
    TokenVerifier(keys, ISSUER, AUDIENCE, clock=_clock(NOW + 60 + 29)).verify(token)
    TokenVerifier(keys, ISSUER, AUDIENCE, clock=_clock(NOW - 29)).verify(token)


# --- algorithm confusion ------------------------------------------------------


def test_alg_none_is_refused(verifier: TokenVerifier, keys: SigningKeys) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys.current.kid}
    for signature in ("", "AAAA"):
        token = f"{_segment(header)}.{_segment(_claims())}.{signature}"
        _refused(verifier, token, "token algorithm not accepted")


@pytest.mark.parametrize("encoding", ["pem", "raw"])
def test_hs256_keyed_with_the_public_key_is_refused(
    verifier: TokenVerifier, keys: SigningKeys, encoding: str
) -> None:
    public = keys.current.public.public_key
    secret = (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if encoding == "pem"
        else public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': keys.current.kid})}"
    signing_input += f".{_segment(_claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    _refused(verifier, f"{signing_input}.{_b64(mac)}", "token algorithm not accepted")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "Ed25519", "eddsa", None])
def test_other_algorithms_are_refused(verifier: TokenVerifier, keys: SigningKeys, alg: Any) -> None:
    header = {"alg": alg, "typ": "at+jwt", "kid": keys.current.kid}
    token = f"{_segment(header)}.{_segment(_claims())}.{_b64(b'x' * 64)}"
    _refused(verifier, token, "token algorithm not accepted")


# --- keys and signatures ------------------------------------------------------


def test_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = SigningKeys.ephemeral()
    token, _ = TokenIssuer(stranger, ISSUER, AUDIENCE, 900, clock=_clock()).issue(
        "usr_1", "ten_a", (), "user"
    )
    _refused(verifier, token, "token signing key unknown")


def test_missing_kid_is_refused(verifier: TokenVerifier, keys: SigningKeys) -> None:
    token = jwt.encode(
        {"alg": "EdDSA", "typ": "at+jwt"}, _claims(), keys.current.private, registry=_jose.REGISTRY
    )
    _refused(verifier, token, "token signing key unknown")


def test_another_key_claiming_our_kid_is_refused(
    verifier: TokenVerifier, keys: SigningKeys
) -> None:
    attacker = OKPKey.generate_key("Ed25519")
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid}
    token = jwt.encode(header, _claims(), attacker, registry=_jose.REGISTRY)
    _refused(verifier, token, "token signature invalid")


def test_embedded_jwk_header_is_not_trusted(verifier: TokenVerifier, keys: SigningKeys) -> None:
    attacker = OKPKey.generate_key("Ed25519")
    header = {
        "alg": "EdDSA",
        "typ": "at+jwt",
        "kid": keys.current.kid,
        "jwk": attacker.as_dict(private=False),
    }
    token = jwt.encode(header, _claims(), attacker, registry=_jose.REGISTRY)
    _refused(verifier, token, "token header not accepted")


@pytest.mark.parametrize(
    "extra",
    [{"jku": "https://evil.example/jwks"}, {"x5u": "https://evil.example/c"}, {"cty": "JWT"}],
)
def test_header_members_we_never_emit_are_refused(
    verifier: TokenVerifier, keys: SigningKeys, extra: dict[str, Any]
) -> None:
    _refused(verifier, _signed(keys, _claims(), **extra), "token header not accepted")


def test_tampered_payload_is_refused(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token, _ = issuer.issue("usr_1", "ten_a", {"viewer"}, "user")
    header, _, signature = token.split(".")
    forged = _segment(_claims(roles=["tenant_admin"], exp=NOW + 10**6))
    _refused(verifier, f"{header}.{forged}.{signature}", "token signature invalid")


def test_tampered_signature_is_refused(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token, _ = issuer.issue("usr_1", "ten_a", (), "user")
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    _refused(verifier, f"{head}.{payload}.{_b64(bytes(raw))}", "token signature invalid")


# --- time ---------------------------------------------------------------------


def test_expired_token_is_refused(issuer: TokenIssuer, keys: SigningKeys) -> None:
    token, _ = issuer.issue("usr_1", "ten_a", (), "user", ttl_s=60)
    later = TokenVerifier(keys, ISSUER, AUDIENCE, clock=_clock(NOW + 60 + 31))
    _refused(later, token, "token expired")


def test_token_not_yet_valid_is_refused(verifier: TokenVerifier, keys: SigningKeys) -> None:
    _refused(verifier, _signed(keys, _claims(nbf=NOW + 120)), "token not yet valid")


def test_token_issued_in_the_future_is_refused(keys: SigningKeys) -> None:
    token, _ = TokenIssuer(keys, ISSUER, AUDIENCE, 900, clock=_clock(NOW + 120)).issue(
        "usr_1", "ten_a", (), "user"
    )
    _refused(
        TokenVerifier(keys, ISSUER, AUDIENCE, clock=_clock()), token, "token issued in the future"
    )


def test_leeway_cannot_exceed_30_seconds(keys: SigningKeys) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(keys, ISSUER, AUDIENCE, leeway_s=300)


# --- issuer, audience, type, claims -------------------------------------------


def test_wrong_issuer_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token, _ = TokenIssuer(keys, "https://evil.example", AUDIENCE, 900, clock=_clock()).issue(
        "usr_1", "ten_a", (), "user"
    )
    _refused(verifier, token, "token issuer not accepted")


def test_wrong_audience_is_refused(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    worker_token, _ = issuer.issue("wrk_1", "ten_a", (), "worker", audience="qplane-worker")
    _refused(verifier, worker_token, "token audience not accepted")
    api_token, _ = issuer.issue("usr_1", "ten_a", (), "user")
    _refused(verifier, api_token, "token audience not accepted", audience="qplane-worker")


@pytest.mark.parametrize("typ", ["JWT", "jwt", "dpop+jwt", "client-authentication+jwt", None])
def test_wrong_token_type_is_refused(verifier: TokenVerifier, keys: SigningKeys, typ: Any) -> None:
    header = {"alg": "EdDSA", "kid": keys.current.kid}
    if typ is not None:
        header["typ"] = typ
    token = jwt.encode(
        header, _claims(), keys.current.private, registry=_jose.REGISTRY, default_type=None
    )
    _refused(verifier, token, "token type not accepted")


def test_application_media_type_form_is_accepted(
    verifier: TokenVerifier, keys: SigningKeys
) -> None:
    verifier.verify(_signed(keys, _claims(), typ="application/at+jwt"))


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "kind", "jti", "iat", "nbf", "exp"])
def test_missing_required_claim_is_refused(
    verifier: TokenVerifier, keys: SigningKeys, missing: str
) -> None:
    _refused(verifier, _signed(keys, _claims(**{missing: ...})), "token missing required claims")


@pytest.mark.parametrize(
    "overrides",
    [
        {"tenant": ...},
        {"tenant": ""},
        {"roles": "operator"},
        {"roles": [1]},
        {"kind": "root"},
        {"kind": "operator"},  # operators carry no tenant
        {"tenant": None},  # users always do
        {"sub": 7},
        {"exp": float(NOW + 300)},
        {"exp": True},
        {"jti": ""},
    ],
)
def test_ill_typed_or_inconsistent_claims_are_refused(
    verifier: TokenVerifier, keys: SigningKeys, overrides: dict[str, Any]
) -> None:
    with pytest.raises(Unauthenticated):
        verifier.verify(_signed(keys, _claims(**overrides)))


def test_unknown_critical_header_is_refused(verifier: TokenVerifier, keys: SigningKeys) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid, "crit": ["x-bind"]}
    signing_input = f"{_segment({**header, 'x-bind': 1})}.{_segment(_claims())}"
    signature = keys.current.private.private_key.sign(signing_input.encode())  # type: ignore[union-attr]
    _refused(verifier, f"{signing_input}.{_b64(signature)}", "token header not accepted")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "é.é.é",
        "x" * 9000,
        "..",
        f"{_b64(b'[1]')}.e30.AA",
        _b64(b'["alg"]') + ".e30.AA",
        _b64(b'"alg"') + ".e30.AA",
    ],
)
def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    _refused(verifier, token, "token malformed")


def test_payload_that_is_not_an_object_is_refused(
    verifier: TokenVerifier, keys: SigningKeys
) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": keys.current.kid}
    token = _jose.sign_compact(header, b"[1, 2]", keys.current.private)
    _refused(verifier, token, "token malformed")


# --- issuing refuses what verifying would refuse --------------------------------


@pytest.mark.parametrize(
    ("tenant", "kind"),
    [("ten_a", "operator"), (None, "user"), (None, "service"), ("ten_a", "root")],
)
def test_issuer_refuses_inconsistent_tokens(issuer: TokenIssuer, tenant: Any, kind: str) -> None:
    with pytest.raises(ValueError, match=r"tenant|kind"):
        issuer.issue("usr_1", tenant, (), kind)


def test_issuer_refuses_non_positive_ttl(issuer: TokenIssuer, keys: SigningKeys) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        issuer.issue("usr_1", "ten_a", (), "user", ttl_s=0)
    with pytest.raises(ValueError, match="ttl_s"):
        TokenIssuer(keys, ISSUER, AUDIENCE, -1)


def test_real_clock_round_trip(keys: SigningKeys) -> None:
    token, issued = TokenIssuer(keys, ISSUER, AUDIENCE, 60).issue("usr_1", "ten_a", (), "user")
    assert abs(issued.iat - time.time()) < 5
    assert TokenVerifier(keys, ISSUER, AUDIENCE).verify(token) == issued
