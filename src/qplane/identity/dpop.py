"""DPoP (RFC 9449): proof that the caller holds the key an access token is bound to.

A DPoP proof is a compact JWS (header ``typ: dpop+jwt``, ``alg`` ES256 or
EdDSA, the signer's public ``jwk``) over ``jti``, ``htm``, ``htu``, ``iat``
and, when an access token is presented with it, ``ath`` (the token's
SHA-256, base64url). `DPoPVerifier.verify` returns the RFC 7638 thumbprint
(``jkt``) of the proving key, or raises `Unauthenticated`, when

* the header is not exactly typ/alg/jwk, the ``alg`` is not allowed (never
  ``none``, never HMAC), the ``jwk`` holds a private member or does not fit
  the ``alg``, or the signature does not verify under that ``jwk``;
* ``htm`` is not the request's method or ``htu`` is not its URL (scheme and
  host compared case-insensitively, default ports dropped, query and
  fragment ignored);
* ``iat`` is older than the acceptance window or in the future beyond a
  small leeway;
* ``ath`` is missing or wrong when a token is presented (or present when none
  is), so a proof cannot be moved to another token;
* the same key already used this ``jti``: ids are remembered in the database
  (`SeenTokenIdRepository`), so a replay is refused on every API server.

Whether the ``jkt`` matches a token's ``cnf.jkt`` is the caller's check
(`qplane.identity.authenticate`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, OKPKey

from qplane.domain.errors import Unauthenticated
from qplane.domain.ports import UnitOfWorkFactory

PROOF_TYPE: Final = "dpop+jwt"
ALGORITHMS: Final = frozenset({"ES256", "EdDSA"})
MAX_AGE_S: Final = 60
LEEWAY_S: Final = 10
_NAMESPACE: Final = "dpop"
_MAX_PROOF_LENGTH: Final = 4096
_MAX_JTI_LENGTH: Final = 128
_HEADER_MEMBERS: Final = frozenset({"typ", "alg", "jwk"})
_PUBLIC_MEMBERS: Final = {"EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x")}
_CURVE_FOR_ALG: Final = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class _ProofAlgorithms(jws.JWSRegistry):
    """The DPoP algorithms and nothing else (also skips joserfc's ``EdDSA`` name warning)."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in ALGORITHMS:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


REGISTRY: Final = _ProofAlgorithms(algorithms=sorted(ALGORITHMS))


class InvalidDPoP(Unauthenticated):
    """A refused DPoP presentation; the API answers with a ``DPoP`` challenge (RFC 9449 §7.1)."""

    @property
    def www_authenticate(self) -> str:
        algs = " ".join(sorted(ALGORITHMS))
        return f'DPoP realm="qplane", error="invalid_dpop_proof", algs="{algs}"'


@dataclass(frozen=True, slots=True)
class DPoPContext:
    """How a token arrived: the Authorization scheme, the DPoP header, method and full URL."""

    scheme: str
    proof: str | None
    method: str
    url: str


def check_sender(
    verifier: DPoPVerifier, token: str, cnf_jkt: str | None, context: DPoPContext | None
) -> None:
    """Return if *token* is presented as its binding demands; raise `InvalidDPoP` otherwise.

    A bound token (``cnf.jkt``) needs the ``DPoP`` scheme and a valid proof
    by exactly that key for this request and this token (a bound token sent
    as ``Bearer`` is refused, so binding cannot be stripped); an unbound
    token sent with the ``DPoP`` scheme is refused too.
    """
    scheme = context.scheme.lower() if context is not None else "bearer"
    if cnf_jkt is None:
        if scheme == "dpop":
            raise InvalidDPoP("token is not bound to a DPoP key")
        return
    if context is None or scheme != "dpop":
        raise InvalidDPoP("a DPoP-bound token must be sent with the DPoP scheme")
    if not context.proof:
        raise InvalidDPoP("DPoP proof required")
    jkt = verifier.verify(context.proof, context.method, context.url, access_token=token)
    if not hmac.compare_digest(jkt, cnf_jkt):
        raise InvalidDPoP("DPoP proof key does not match the token's key")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of *access_token*: base64url SHA-256 without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalise_htu(url: str) -> str:
    """*url* as DPoP compares it: lower-case scheme and host, no default port, query or fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise Unauthenticated("DPoP proof htu invalid") from None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


class DPoPVerifier:
    """Checks DPoP proofs for one request; remembers proof ids in the database."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        max_age_s: int = MAX_AGE_S,
        leeway_s: int = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._max_age_s = max_age_s
        self._leeway_s = leeway_s
        self._clock = clock

    def verify(self, proof: str, method: str, url: str, access_token: str | None = None) -> str:
        """The ``jkt`` of the key that signed *proof* for this request, else `Unauthenticated`."""
        try:
            key, claims = _signed_claims(proof)
            self._check_request(claims, method, url)
            iat = self._check_time(claims)
            _check_ath(claims, access_token)
            jkt = key.thumbprint()
            self._remember(jkt, claims["jti"], iat)
        except InvalidDPoP:
            raise
        except Unauthenticated as exc:
            raise InvalidDPoP(exc.detail) from None
        return jkt

    def _check_request(self, claims: dict[str, Any], method: str, url: str) -> None:
        if claims.get("htm") != method.upper():
            raise Unauthenticated("DPoP proof htm does not match the request method")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
            raise Unauthenticated("DPoP proof htu does not match the request URL")

    def _check_time(self, claims: dict[str, Any]) -> int:
        iat = claims.get("iat")
        if type(iat) is not int:
            raise Unauthenticated("DPoP proof iat missing")
        now = int(self._clock())
        if iat > now + self._leeway_s:
            raise Unauthenticated("DPoP proof issued in the future")
        if iat < now - self._max_age_s:
            raise Unauthenticated("DPoP proof too old")
        return iat

    def _remember(self, jkt: str, jti: str, iat: int) -> None:
        now = self._clock()
        # Kept past the last second at which this proof's iat is still acceptable.
        until = max(iat + self._max_age_s, int(now)) + self._leeway_s + 1
        with self._uow() as uow:
            first = uow.seen_token_ids.first_use(
                _NAMESPACE,
                f"{jkt}\x00{jti}",
                datetime.fromtimestamp(until, UTC),
                datetime.fromtimestamp(now, UTC),
            )
            uow.commit()
        if not first:
            raise Unauthenticated("DPoP proof already used")


def _signed_claims(proof: str) -> tuple[ECKey | OKPKey, dict[str, Any]]:
    if not proof or len(proof) > _MAX_PROOF_LENGTH or not proof.isascii():
        raise Unauthenticated("DPoP proof malformed")
    try:
        header = jws.extract_compact(proof.encode("ascii"), registry=REGISTRY).headers()
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise Unauthenticated("DPoP proof malformed") from None
    key = _proof_key(header)
    try:
        payload = jws.deserialize_compact(proof, key, registry=REGISTRY).payload
    except (JoseError, ValueError, TypeError):
        raise Unauthenticated("DPoP proof signature invalid") from None
    try:
        claims = json.loads(payload or b"")
    except ValueError:
        raise Unauthenticated("DPoP proof malformed") from None
    if not isinstance(claims, dict):
        raise Unauthenticated("DPoP proof malformed")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_LENGTH:
        raise Unauthenticated("DPoP proof jti missing")
    return key, claims


def _proof_key(header: dict[str, Any]) -> ECKey | OKPKey:
    """The public key embedded in a proof header, after checking it fits the header's alg."""
    if not isinstance(header, dict) or set(header) != _HEADER_MEMBERS:
        raise Unauthenticated("DPoP proof header not accepted")
    if header["typ"] != PROOF_TYPE:
        raise Unauthenticated("DPoP proof type not accepted")
    alg, jwk = header["alg"], header["jwk"]
    if alg not in ALGORITHMS:
        raise Unauthenticated("DPoP proof algorithm not accepted")
    kty, crv = _CURVE_FOR_ALG[alg]
    if not isinstance(jwk, dict) or jwk.get("kty") != kty or jwk.get("crv") != crv:
        raise Unauthenticated("DPoP proof key does not fit its algorithm")
    if "d" in jwk:
        raise Unauthenticated("DPoP proof key is not a public key")
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[kty] if isinstance(jwk.get(name), str)}
    try:
        return ECKey.import_key(public) if kty == "EC" else OKPKey.import_key(public)
    except (JoseError, ValueError, TypeError):
        raise Unauthenticated("DPoP proof key invalid") from None


def _check_ath(claims: dict[str, Any], access_token: str | None) -> None:
    ath = claims.get("ath")
    if access_token is None:
        if ath is not None:
            raise Unauthenticated("DPoP proof ath not expected")
        return
    if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
        raise Unauthenticated("DPoP proof ath does not match the access token")
