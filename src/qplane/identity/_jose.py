"""Shared JOSE plumbing for qplane's Ed25519 signatures (all through joserfc).

* `REGISTRY` accepts exactly one algorithm, ``EdDSA``; every other ``alg``
  (``none``, ``HS256``, ``RS256`` …) is refused before any key is touched,
  which rules out algorithm-confusion attacks. Only the registered header
  parameters are accepted (joserfc's strict header check).
* `peek_header` parses a compact JWS *without trusting it*, so that callers
  can pick a key and refuse a wrong ``typ`` before verifying.
* Ed25519 private keys live in 0600 PEM files (see `qplane.crypto.keyfiles`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import OKPKey

from qplane.crypto.keyfiles import load_or_create_secret_file, read_secret_file

ALG: Final = "EdDSA"
CURVE: Final = "Ed25519"
MAX_COMPACT_LENGTH: Final = 8192
_OUR_HEADER_MEMBERS: Final = frozenset({"alg", "typ", "kid"})


class _EdDSAOnly(jws.JWSRegistry):
    """A JWS registry that knows one algorithm.

    joserfc marks the ``EdDSA`` name deprecated in favour of RFC 9864's
    ``Ed25519`` and warns on each use; qplane keeps ``EdDSA`` for interop
    with today's verifiers, so the pin here also skips that warning.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != ALG:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[ALG]


REGISTRY: Final = _EdDSAOnly(algorithms=[ALG])


class MalformedJWS(ValueError):
    """The value is not a compact JWS with a JSON-object header."""


def peek_header(value: str) -> dict[str, Any]:
    """The unverified protected header of a compact JWS, or `MalformedJWS`."""
    if not value or len(value) > MAX_COMPACT_LENGTH or not value.isascii():
        raise MalformedJWS
    try:
        header = jws.extract_compact(value.encode("ascii"), registry=REGISTRY).headers()
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise MalformedJWS from None
    if not isinstance(header, dict):
        raise MalformedJWS
    return header


def has_only_our_header_members(header: dict[str, Any]) -> bool:
    """True when *header* holds nothing but alg, typ and kid, all that qplane emits.

    Refusing every other member (``jwk``, ``jku``, ``x5u``, ``crit``, ``b64`` …)
    keeps an attacker from steering key selection or payload handling.
    """
    return set(header) <= _OUR_HEADER_MEMBERS


def verify_compact(value: str, key: OKPKey) -> bytes:
    """Verify an EdDSA compact JWS under *key*; returns the payload.

    Raises `MalformedJWS` for an unparseable value and joserfc's
    `BadSignatureError` (or another `JoseError`) for a bad signature.
    """
    try:
        obj = jws.extract_compact(value.encode("ascii"), registry=REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise MalformedJWS from None
    if not jws.validate_compact(obj, key, registry=REGISTRY):
        raise BadSignatureError()
    if obj.payload is None:
        raise MalformedJWS
    return obj.payload


def sign_compact(header: dict[str, Any], payload: bytes, key: OKPKey) -> str:
    """An EdDSA compact JWS of *payload* with protected *header* (alg added)."""
    return jws.serialize_compact({**header, "alg": ALG}, payload, key, registry=REGISTRY)


def generate_key() -> OKPKey:
    """A fresh Ed25519 private key with its RFC 7638 thumbprint as ``kid``."""
    return _with_kid(OKPKey.generate_key(CURVE, private=True))


def load_or_create_pem(path: Path) -> OKPKey:
    """The Ed25519 key in the PEM file at *path*, created (0600) if missing.

    A file that group or others can access raises `InsecureKeyFile`.
    """
    pem = load_or_create_secret_file(path, lambda: generate_key().as_pem(private=True))
    key = OKPKey.import_key(pem)
    if not key.is_private or key.curve_name != CURVE:
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return _with_kid(key)


def load_pem(path: Path) -> OKPKey:
    """The Ed25519 key in the existing PEM file at *path* (`FileNotFoundError` if none)."""
    key = OKPKey.import_key(read_secret_file(path))
    if not key.is_private or key.curve_name != CURVE:
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return _with_kid(key)


def public_jwk(key: OKPKey) -> dict[str, str]:
    """The public JWK of *key* (no ``d``), with kid, alg and use."""
    data = _with_kid(key).as_dict(private=False)
    public = {name: str(data[name]) for name in ("kty", "crv", "x", "kid")}
    return {**public, "alg": ALG, "use": "sig"}


def import_public_jwk(data: object) -> OKPKey:
    """An Ed25519 public key from a JWK dict, ignoring any private member.

    Raises `ValueError` for anything that is not an Ed25519 signing key.
    """
    if not isinstance(data, dict) or data.get("kty") != "OKP" or data.get("crv") != CURVE:
        raise ValueError("not an Ed25519 JWK")
    if data.get("alg", ALG) != ALG or data.get("use", "sig") != "sig":
        raise ValueError("JWK is not an EdDSA signing key")
    x = data.get("x")
    if not isinstance(x, str):
        raise ValueError("JWK has no public key")
    try:
        key = OKPKey.import_key({"kty": "OKP", "crv": CURVE, "x": x})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("JWK is not a valid Ed25519 public key") from exc
    return _with_kid(key)


def import_public_jwk_json(text: str) -> OKPKey:
    """`import_public_jwk` of a JSON text."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("JWK is not valid JSON") from exc
    return import_public_jwk(data)


def _with_kid(key: OKPKey) -> OKPKey:
    key.ensure_kid()  # kid = RFC 7638 thumbprint when none was given
    return key
