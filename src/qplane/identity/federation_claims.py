"""Verifying an external workload's OIDC token (the RFC 8693 subject token).

`verify_subject_token` returns the token's claims, or raises
`Unauthenticated` with a one-line reason, when the token

* is not a compact JWS whose ``alg`` is RS256, ES256 or EdDSA (``none`` and
  every HMAC algorithm are refused before a key is looked up), names no
  ``kid``, or carries header members that steer key selection (``jwk``,
  ``jku``, ``x5u``, ``x5c``, ``crit``);
* is not signed by the issuer's published key of that ``kid``, with an
  algorithm that fits the key's type;
* has another ``iss``, lacks ``exp``, ``iat`` or ``jti``, is expired, not yet
  valid or issued in the future (beyond `LEEWAY_S`), or lives longer than
  `MAX_SUBJECT_LIFETIME_S`.

Audience and claim conditions are per trust policy: `audience_matches` and
`conditions_match`. Single use (``jti``) is enforced by the caller in the
database.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any, Final

from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError, MissingClaimError
from joserfc.errors import UnsupportedAlgorithmError as _Unsupported
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, OKPKey, RSAKey

from qplane.domain.errors import Unauthenticated
from qplane.domain.federation import ClaimCondition, ConditionOp
from qplane.identity.federation_jwks import IssuerKeys, PublicKey

SUBJECT_ALGORITHMS: Final = frozenset({"RS256", "ES256", "EdDSA"})
LEEWAY_S: Final = 60
MAX_SUBJECT_LIFETIME_S: Final = 3600
_MAX_TOKEN_LENGTH: Final = 16 * 1024
_MAX_JTI_LENGTH: Final = 256
_STEERING_MEMBERS: Final = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64"})
_KEY_TYPE_FOR_ALG: Final[dict[str, type[PublicKey]]] = {
    "RS256": RSAKey,
    "ES256": ECKey,
    "EdDSA": OKPKey,
}


class _SubjectAlgorithms(jws.JWSRegistry):
    """Exactly the allowed algorithms (also skips joserfc's ``EdDSA`` name warning)."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in SUBJECT_ALGORITHMS:
            raise _Unsupported(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRY: Final = _SubjectAlgorithms(algorithms=sorted(SUBJECT_ALGORITHMS))


def unverified_issuer(token: str) -> str:
    """The ``iss`` a token *claims*; used only to find candidate trust policies."""
    obj = _parse(token)
    try:
        claims = json.loads(obj.payload or b"")
    except ValueError:
        raise Unauthenticated("subject token malformed") from None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise Unauthenticated("subject token names no issuer")
    return issuer


def verify_subject_token(token: str, issuer: str, keys: IssuerKeys, now: int) -> dict[str, Any]:
    """The verified claims of *token*, which must come from *issuer*; see the module doc."""
    header = _parse(token).headers()
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in SUBJECT_ALGORITHMS:
        raise Unauthenticated("subject token algorithm not accepted")
    if _STEERING_MEMBERS & set(header) or not isinstance(kid, str) or not kid:
        raise Unauthenticated("subject token header not accepted")
    key = keys.key_for(issuer, kid)
    if not isinstance(key, _KEY_TYPE_FOR_ALG[alg]):
        raise Unauthenticated("subject token algorithm does not fit the issuer's key")
    try:
        payload = jws.deserialize_compact(token, key, algorithms=[alg], registry=_REGISTRY).payload
        claims = json.loads(payload or b"")
    except (JoseError, ValueError, TypeError):
        raise Unauthenticated("subject token signature invalid") from None
    if not isinstance(claims, dict):
        raise Unauthenticated("subject token malformed")
    _check_claims(claims, issuer, now)
    return claims


def audience_matches(claims: dict[str, Any], audience: str) -> bool:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and audience in aud


def conditions_match(claims: dict[str, Any], conditions: tuple[ClaimCondition, ...]) -> bool:
    """Every condition holds; a missing or non-string claim never matches."""
    for condition in conditions:
        value = claims.get(condition.claim)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            return False
        if condition.op is ConditionOp.EQUALS and value != condition.value:
            return False
        if condition.op is ConditionOp.GLOB and not fnmatchcase(value, condition.value):
            return False
    return True


def _parse(token: str) -> jws.CompactSignature:
    if not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthenticated("subject token malformed")
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
        if not isinstance(obj.headers(), dict):
            raise Unauthenticated("subject token malformed")
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise Unauthenticated("subject token malformed") from None
    return obj


def _check_claims(claims: dict[str, Any], issuer: str, now: int) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_S,
        iss={"essential": True, "value": issuer},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthenticated("subject token expired") from None
    except MissingClaimError:
        raise Unauthenticated("subject token lacks exp, iat or jti") from None
    except JoseError:
        raise Unauthenticated("subject token claims not accepted") from None
    iat, exp, jti = claims["iat"], claims["exp"], claims["jti"]
    if type(iat) is not int or type(exp) is not int or exp <= iat:
        raise Unauthenticated("subject token claims not accepted")
    if exp - iat > MAX_SUBJECT_LIFETIME_S:
        raise Unauthenticated("subject token lifetime too long")
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_LENGTH:
        raise Unauthenticated("subject token jti not accepted")
