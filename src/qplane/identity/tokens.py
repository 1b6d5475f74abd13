"""Platform access tokens: issuing and the one place they are verified.

Tokens are JWTs (RFC 9068 profile: header ``typ: at+jwt``) signed with
EdDSA (Ed25519) by the current `SigningKeys` key and naming it by ``kid``.
Claims: iss, aud, sub, tenant (null for operators), roles, kind, jti, iat,
nbf, exp, and how the subject authenticated: ``amr`` (RFC 8176 method
names), ``acr`` and ``auth_time`` (so step-up checks can demand recent MFA),
``cnf.jkt`` when the token is bound to a DPoP key (RFC 9449) and
``client_id`` when a client acts for the subject.

`TokenVerifier.verify` is the single gate for every bearer token in qplane,
so single sign-on, sender-constrained tokens (DPoP) and revocation hook in
there. It returns claims or raises `Unauthenticated` with a one-line reason
("token expired", "token signature invalid" …) that never echoes the token.
It refuses, before touching a key, any ``alg`` but EdDSA (``none``, HS256
keyed with the public key, …), any header member but alg, typ and kid
(``jwk``, ``jku``, ``crit`` …) and any ``typ`` but ``at+jwt``; then an
unknown ``kid``, a bad signature, a wrong issuer or audience, an expired or
not-yet-valid token (30 s leeway), missing or ill-typed claims, and a
tenant/kind combination the issuer never makes.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import OKPKey
from joserfc.jwt import ClaimsOption

from qplane.domain.errors import Unauthenticated
from qplane.identity import _jose
from qplane.identity.signing import SigningKeys

TOKEN_TYPE: Final = "at+jwt"
LEEWAY_S: Final = 30
TOKEN_KINDS: Final = frozenset({"user", "service", "operator", "worker"})
DEFAULT_AMR: Final = ("pwd",)
DEFAULT_ACR: Final = "urn:qplane:acr:pwd"
_ACCEPTED_TYPES: Final = frozenset({TOKEN_TYPE, "application/" + TOKEN_TYPE})
_REQUIRED: Final = ("iss", "aud", "sub", "kind", "jti", "iat", "nbf", "exp", "amr", "acr")
_CLAIM_REASONS: Final = {
    "nbf": "token not yet valid",
    "iat": "token issued in the future",
    "iss": "token issuer not accepted",
    "aud": "token audience not accepted",
}


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified content of an access token."""

    sub: str
    tenant: str | None
    roles: frozenset[str]
    kind: str
    jti: str
    iat: int
    exp: int
    iss: str
    aud: str
    amr: tuple[str, ...] = ("pwd",)
    acr: str = DEFAULT_ACR
    auth_time: int = 0
    cnf_jkt: str | None = None
    client_id: str | None = None


class TokenIssuer:
    """Signs access tokens with the current platform signing key."""

    def __init__(
        self,
        keys: SigningKeys,
        issuer: str,
        audience: str,
        ttl_s: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._clock = clock

    def issue(
        self,
        subject: str,
        tenant: str | None,
        roles: Iterable[str],
        kind: str,
        audience: str | None = None,
        ttl_s: int | None = None,
        *,
        amr: Sequence[str] = DEFAULT_AMR,
        acr: str = DEFAULT_ACR,
        auth_time: int | None = None,
        cnf_jkt: str | None = None,
        client_id: str | None = None,
    ) -> tuple[str, AccessClaims]:
        """A signed token and its claims; refuses combinations `verify` would refuse.

        *auth_time* (default: now) is when the subject last authenticated,
        not when this token was minted: a refreshed token keeps the original
        time so step-up checks cannot be satisfied by refreshing.
        """
        ttl = self._ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise ValueError("ttl_s must be positive")
        _check_kind(kind, tenant)
        now = int(self._clock())
        if not amr or not all(isinstance(m, str) and m for m in amr) or not acr:
            raise ValueError("amr and acr must be non-empty")
        claims = AccessClaims(
            sub=subject,
            tenant=tenant,
            roles=frozenset(roles),
            kind=kind,
            jti=secrets.token_urlsafe(16),
            iat=now,
            exp=now + ttl,
            iss=self._issuer,
            aud=audience or self._audience,
            amr=tuple(amr),
            acr=acr,
            auth_time=now if auth_time is None else min(int(auth_time), now),
            cnf_jkt=cnf_jkt or None,
            client_id=client_id or None,
        )
        key = self._keys.current
        header = {"alg": _jose.ALG, "typ": TOKEN_TYPE, "kid": key.kid}
        token = jwt.encode(header, _to_payload(claims), key.private, registry=_jose.REGISTRY)
        return token, claims


class TokenVerifier:
    """Verifies access tokens against the platform keys or a published JWKS."""

    def __init__(
        self,
        keys_or_jwks: SigningKeys | Mapping[str, Any],
        issuer: str,
        audience: str,
        *,
        leeway_s: int = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway_s <= LEEWAY_S:
            raise ValueError(f"leeway_s must be between 0 and {LEEWAY_S}")
        self._lookup = _key_lookup(keys_or_jwks)
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._clock = clock

    def verify(self, token: str, audience: str | None = None) -> AccessClaims:
        """The claims of *token* if it is valid for *audience* (default: ours).

        Raises `Unauthenticated` with a short reason otherwise.
        """
        key = self._key_for(token)
        payload = self._verified_payload(token, key)
        expected_aud = audience or self._audience
        self._check_claims(payload, expected_aud)
        return _to_claims(payload, expected_aud)

    def _key_for(self, token: str) -> OKPKey:
        try:
            header = _jose.peek_header(token)
        except _jose.MalformedJWS:
            raise Unauthenticated("token malformed") from None
        if header.get("alg") != _jose.ALG:
            raise Unauthenticated("token algorithm not accepted")
        if not _jose.has_only_our_header_members(header):
            raise Unauthenticated("token header not accepted")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise Unauthenticated("token type not accepted")
        kid = header.get("kid")
        key = self._lookup(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("token signing key unknown")
        return key

    def _verified_payload(self, token: str, key: OKPKey) -> dict[str, Any]:
        try:
            payload = _jose.verify_compact(token, key)
        except _jose.MalformedJWS:
            raise Unauthenticated("token malformed") from None
        except BadSignatureError:
            raise Unauthenticated("token signature invalid") from None
        except JoseError:
            raise Unauthenticated("token header not accepted") from None
        try:
            claims = json.loads(payload)
        except ValueError:
            raise Unauthenticated("token malformed") from None
        if not isinstance(claims, dict):
            raise Unauthenticated("token malformed")
        return claims

    def _check_claims(self, payload: dict[str, Any], audience: str) -> None:
        options: dict[str, ClaimsOption] = {name: {"essential": True} for name in _REQUIRED}
        options["iss"] = {"essential": True, "value": self._issuer}
        options["aud"] = {"essential": True, "value": audience}
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=self._leeway_s, **options
        )
        try:
            registry.validate(payload)
        except ExpiredTokenError:
            raise Unauthenticated("token expired") from None
        except MissingClaimError:
            raise Unauthenticated("token missing required claims") from None
        except InvalidClaimError as exc:
            reason = _CLAIM_REASONS.get(exc.claim, "token claims invalid")
            raise Unauthenticated(reason) from None


def _key_lookup(source: SigningKeys | Mapping[str, Any]) -> Callable[[str], OKPKey | None]:
    if isinstance(source, SigningKeys):
        return source.public_key  # follows rotation and reload
    keys: dict[str, OKPKey] = {}
    for entry in source.get("keys", []):
        try:
            key = _jose.import_public_jwk(entry)
        except ValueError:
            continue  # not an EdDSA signing key: never usable for our tokens
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) else str(key.kid)] = key
    return keys.get


def _check_kind(kind: str, tenant: str | None) -> None:
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if kind == "operator" and tenant is not None:
        raise ValueError("operator tokens carry no tenant")
    if kind in ("user", "service") and not tenant:
        raise ValueError(f"{kind} tokens need a tenant")


def _to_payload(claims: AccessClaims) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": claims.iss,
        "aud": claims.aud,
        "sub": claims.sub,
        "tenant": claims.tenant,
        "roles": sorted(claims.roles),
        "kind": claims.kind,
        "jti": claims.jti,
        "iat": claims.iat,
        "nbf": claims.iat,
        "exp": claims.exp,
        "amr": list(claims.amr),
        "acr": claims.acr,
        "auth_time": claims.auth_time,
    }
    if claims.cnf_jkt is not None:
        payload["cnf"] = {"jkt": claims.cnf_jkt}
    if claims.client_id is not None:
        payload["client_id"] = claims.client_id
    return payload


def _to_claims(payload: dict[str, Any], audience: str) -> AccessClaims:
    """Typed claims; any claim of the wrong type or shape is refused."""
    sub, kind, jti, iss = (payload[name] for name in ("sub", "kind", "jti", "iss"))
    tenant = payload.get("tenant")
    roles = payload.get("roles", [])
    iat, exp = payload["iat"], payload["exp"]
    if not all(isinstance(value, str) and value for value in (sub, kind, jti, iss)):
        raise Unauthenticated("token claims invalid")
    if "tenant" not in payload or not (tenant is None or (isinstance(tenant, str) and tenant)):
        raise Unauthenticated("token claims invalid")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("token claims invalid")
    if not all(type(value) is int for value in (iat, exp, payload["nbf"])):
        raise Unauthenticated("token claims invalid")
    try:
        _check_kind(kind, tenant)
    except ValueError:
        raise Unauthenticated("token claims invalid") from None
    amr, acr, auth_time = _authentication_claims(payload, iat)
    return AccessClaims(
        sub=sub,
        tenant=tenant,
        roles=frozenset(roles),
        kind=kind,
        jti=jti,
        iat=iat,
        exp=exp,
        iss=iss,
        aud=audience,
        amr=amr,
        acr=acr,
        auth_time=auth_time,
        cnf_jkt=_confirmation(payload),
        client_id=_optional_string(payload, "client_id"),
    )


def _authentication_claims(payload: dict[str, Any], iat: int) -> tuple[tuple[str, ...], str, int]:
    """amr, acr and auth_time; an authentication later than the token's issue is refused."""
    amr, acr, auth_time = payload["amr"], payload["acr"], payload.get("auth_time")
    if not isinstance(amr, list) or not amr or not all(isinstance(m, str) and m for m in amr):
        raise Unauthenticated("token claims invalid")
    if not isinstance(acr, str) or not acr:
        raise Unauthenticated("token claims invalid")
    if type(auth_time) is not int or auth_time > iat:
        raise Unauthenticated("token claims invalid")
    return tuple(amr), acr, auth_time


def _confirmation(payload: dict[str, Any]) -> str | None:
    """The DPoP key thumbprint of a bound token; a ``cnf`` we cannot honour is refused."""
    if "cnf" not in payload:
        return None
    cnf = payload["cnf"]
    if not isinstance(cnf, dict) or set(cnf) != {"jkt"}:
        raise Unauthenticated("token claims invalid")
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise Unauthenticated("token claims invalid")
    return jkt


def _optional_string(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None and name not in payload:
        return None
    if not isinstance(value, str) or not value:
        raise Unauthenticated("token claims invalid")
    return value
