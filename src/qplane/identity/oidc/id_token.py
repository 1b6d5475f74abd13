"""Verification of an OpenID Connect ID token (Core 1.0 §3.1.3.7), all through joserfc.

`verify_id_token` returns the verified claims or raises `Unauthenticated`
with a short reason; it never "mostly succeeds". It checks, in order: the
algorithm is an asymmetric one the IdP advertises (never ``none`` or an
HMAC keyed with public material), the signature under the issuer's JWKS
(one refetch on an unknown ``kid``), ``iss`` equal to the registered issuer,
``aud`` containing our client id, ``azp`` (required and equal to our client
id when there are several audiences), ``exp``/``iat`` with a small leeway,
``sub``, and ``nonce`` equal to the one sealed into this login's flow — so
a token minted for another client, tenant or login is refused.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption

from qplane.domain.errors import Unauthenticated

LEEWAY_S: Final = 60
MAX_TOKEN_LENGTH: Final = 16 * 1024
#: Asymmetric algorithms only: an HMAC would be keyed with something the IdP published.
ASYMMETRIC_ALGS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_REASONS: Final = {
    "iss": "ID token issuer not accepted",
    "aud": "ID token audience not accepted",
    "nonce": "ID token nonce does not match this login",
    "iat": "ID token issued in the future",
    "nbf": "ID token not yet valid",
}


@dataclass(frozen=True, slots=True)
class IdTokenExpectations:
    """What this login's ID token must say."""

    issuer: str
    client_id: str
    nonce: str
    algorithms: tuple[str, ...]


def token_kid(id_token: str) -> str | None:
    """The unverified ``kid`` of *id_token*, used only to pick a key."""
    if not id_token or len(id_token) > MAX_TOKEN_LENGTH or not id_token.isascii():
        raise Unauthenticated("ID token malformed")
    try:
        header = jws.extract_compact(id_token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise Unauthenticated("ID token malformed") from None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def verify_id_token(
    id_token: str,
    keys: KeySet,
    expected: IdTokenExpectations,
    *,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The verified claims of *id_token*; raises `Unauthenticated` for any failed check."""
    algorithms = [alg for alg in expected.algorithms if alg in ASYMMETRIC_ALGS] or ["RS256"]
    try:
        token = jwt.decode(id_token, keys, algorithms=algorithms)
    except BadSignatureError:
        raise Unauthenticated("ID token signature invalid") from None
    except (JoseError, ValueError, TypeError, KeyError):
        raise Unauthenticated("ID token not accepted") from None
    claims = dict(token.claims)
    _check_registered_claims(claims, expected, clock)
    _check_azp(claims, expected.client_id)
    # The registry compared the nonce already; compare again in constant time for clarity.
    if not hmac.compare_digest(str(claims.get("nonce", "")), expected.nonce):
        raise Unauthenticated(_REASONS["nonce"])
    return claims


def _check_registered_claims(
    claims: dict[str, Any], expected: IdTokenExpectations, clock: Callable[[], float]
) -> None:
    options: dict[str, ClaimsOption] = {
        "iss": {"essential": True, "value": expected.issuer},
        "aud": {"essential": True, "value": expected.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "nonce": {"essential": True, "value": expected.nonce},
    }
    registry = jwt.JWTClaimsRegistry(now=lambda: int(clock()), leeway=LEEWAY_S, **options)
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthenticated("ID token expired") from None
    except MissingClaimError:
        raise Unauthenticated("ID token missing required claims") from None
    except InvalidClaimError as exc:
        raise Unauthenticated(_REASONS.get(exc.claim, "ID token claims invalid")) from None
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthenticated("ID token claims invalid")


def _check_azp(claims: dict[str, Any], client_id: str) -> None:
    audience = claims["aud"]
    several = isinstance(audience, list) and len(audience) > 1
    azp = claims.get("azp")
    if (several and azp is None) or (azp is not None and azp != client_id):
        raise Unauthenticated("ID token authorized party not accepted")
