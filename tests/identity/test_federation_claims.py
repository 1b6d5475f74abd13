"""Verifying external workload tokens against a real issuer's JWKS on loopback."""

from __future__ import annotations

import time

import pytest

from qplane.domain.errors import Unauthenticated
from qplane.domain.federation import ClaimCondition, ConditionOp
from qplane.identity.federation_claims import (
    audience_matches,
    conditions_match,
    unverified_issuer,
    verify_subject_token,
)
from qplane.identity.federation_jwks import IssuerKeys
from tests.identity.federation_issuer import AUDIENCE, SUBJECT, ExternalIssuer
from tests.identity.federation_issuer import external_issuer as external_issuer


@pytest.fixture
def keys() -> IssuerKeys:
    return IssuerKeys(allow_http_loopback=True, min_refresh_s=0)


def _verify(issuer: ExternalIssuer, keys: IssuerKeys, token: str) -> dict[str, object]:
    return verify_subject_token(token, issuer.url, keys, int(time.time()))


def test_a_github_style_token_verifies(external_issuer: ExternalIssuer, keys: IssuerKeys) -> None:
    claims = _verify(external_issuer, keys, external_issuer.token())
    assert claims["sub"] == SUBJECT
    assert unverified_issuer(external_issuer.token()) == external_issuer.url


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_alg_none_and_hmac_are_refused(
    external_issuer: ExternalIssuer, keys: IssuerKeys, alg: str
) -> None:
    public_pem = external_issuer.keys[-1].as_pem(private=False)
    token = external_issuer.unsigned_token(alg, secret=public_pem)
    with pytest.raises(Unauthenticated, match=r"algorithm not accepted|malformed"):
        _verify(external_issuer, keys, token)


def test_a_token_signed_by_another_key_is_refused(
    external_issuer: ExternalIssuer, keys: IssuerKeys
) -> None:
    from joserfc.jwk import RSAKey

    stranger = RSAKey.generate_key(2048, private=True)
    token = external_issuer.token(key=stranger, header={"kid": external_issuer.keys[-1].kid})
    with pytest.raises(Unauthenticated, match="signature invalid"):
        _verify(external_issuer, keys, token)


def test_expired_token_is_refused(external_issuer: ExternalIssuer, keys: IssuerKeys) -> None:
    now = int(time.time())
    token = external_issuer.token(iat=now - 900, nbf=now - 900, exp=now - 300)
    with pytest.raises(Unauthenticated, match="expired"):
        _verify(external_issuer, keys, token)


@pytest.mark.parametrize("missing", ["jti", "exp", "iat"])
def test_tokens_without_jti_exp_or_iat_are_refused(
    external_issuer: ExternalIssuer, keys: IssuerKeys, missing: str
) -> None:
    with pytest.raises(Unauthenticated, match="lacks exp, iat or jti"):
        _verify(external_issuer, keys, external_issuer.token(**{missing: None}))


def test_overlong_token_lifetime_is_refused(
    external_issuer: ExternalIssuer, keys: IssuerKeys
) -> None:
    now = int(time.time())
    with pytest.raises(Unauthenticated, match="lifetime too long"):
        _verify(external_issuer, keys, external_issuer.token(exp=now + 7200))


def test_token_claiming_another_issuer_is_refused(
    external_issuer: ExternalIssuer, keys: IssuerKeys
) -> None:
    token = external_issuer.token(iss="https://evil.example")
    with pytest.raises(Unauthenticated, match="claims not accepted"):
        _verify(external_issuer, keys, token)


def test_unknown_kid_refreshes_the_jwks_once(
    external_issuer: ExternalIssuer, keys: IssuerKeys
) -> None:
    _verify(external_issuer, keys, external_issuer.token())
    _verify(external_issuer, keys, external_issuer.token())
    assert external_issuer.jwks_requests == 1  # cached
    external_issuer.rotate()
    _verify(external_issuer, keys, external_issuer.token())  # new kid: fetched again
    assert external_issuer.jwks_requests == 2


def test_refreshes_on_unknown_kid_are_rate_limited(external_issuer: ExternalIssuer) -> None:
    keys = IssuerKeys(allow_http_loopback=True, min_refresh_s=3600)
    _verify(external_issuer, keys, external_issuer.token())
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="signing key unknown"):
            _verify(external_issuer, keys, external_issuer.token(header={"kid": "made-up"}))
    assert external_issuer.jwks_requests == 1


def test_plain_http_issuers_need_the_insecure_switch(external_issuer: ExternalIssuer) -> None:
    with pytest.raises(Unauthenticated, match="https"):
        _verify(external_issuer, IssuerKeys(), external_issuer.token())


def test_audience_and_conditions() -> None:
    claims = {"aud": [AUDIENCE, "other"], "sub": SUBJECT, "repository_owner": "acme"}
    assert audience_matches(claims, AUDIENCE)
    assert not audience_matches({"aud": "other"}, AUDIENCE)
    glob = ClaimCondition("sub", ConditionOp.GLOB, "repo:acme/*:ref:refs/heads/main")
    owner = ClaimCondition("repository_owner", ConditionOp.EQUALS, "acme")
    assert conditions_match(claims, (glob, owner))
    assert not conditions_match({**claims, "sub": "repo:evil/qml:ref:refs/heads/main"}, (glob,))
    assert not conditions_match({**claims, "repository_owner": "acme-evil"}, (owner,))
    assert not conditions_match({"sub": SUBJECT}, (owner,))  # a missing claim never matches
