"""Worker (workload) identity: a key per worker, no shared secrets.

A worker never holds a user token or a database URL. It holds one Ed25519
private key in a 0600 PEM file and registers only the public JWK. With it
the worker

* authenticates with a short-lived client assertion (RFC 7523 style JWT:
  iss = sub = worker id, aud, iat, exp, jti; header ``typ``
  ``client-authentication+jwt``), which the control plane checks with
  `verify_client_assertion` before handing out a job-scoped token; and
* signs each result with `sign_result`, a compact JWS over the job id, the
  lease id and the SHA-256 of the result bytes, checked with
  `verify_result_signature` before the result is accepted.

Security properties: an assertion is refused (`Unauthenticated`) unless it is
EdDSA-signed by the registered key, typed as an assertion, issued by and
about this worker, for this audience, currently valid (30 s leeway), at most
five minutes long, and never seen before: its id is remembered in the
database (`SeenTokenIdRepository`) for as long as the assertion could be
accepted, so a replay is refused on every API server. A result signature
is refused (`IntegrityError`) unless it was made by the registered key for
exactly this job, lease and result bytes. Distinct ``typ`` values keep an
assertion from passing as a result signature, or the reverse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import OKPKey

from qplane.domain.errors import IntegrityError, Unauthenticated
from qplane.domain.ports import SeenTokenIdRepository
from qplane.identity import _jose

ASSERTION_TYPE: Final = "client-authentication+jwt"
RESULT_TYPE: Final = "qplane-result+jws"
MAX_ASSERTION_LIFETIME_S: Final = 300
LEEWAY_S: Final = 30
_MAX_JTI_LENGTH: Final = 128
_NAMESPACE: Final = "wrk"


class WorkerKey:
    """A worker's Ed25519 private key; only its public JWK leaves the worker."""

    __slots__ = ("_key",)

    def __init__(self, key: OKPKey) -> None:
        if not key.is_private or key.curve_name != _jose.CURVE:
            raise ValueError("a WorkerKey is an Ed25519 private key")
        self._key = key

    def __repr__(self) -> str:
        return f"WorkerKey(kid={self.kid!r})"

    @classmethod
    def load_or_create(cls, path: Path) -> WorkerKey:
        """The key in *path*, created (0600, directory 0700) if missing.

        A file that group or others can access raises `InsecureKeyFile`.
        """
        return cls(_jose.load_or_create_pem(path))

    @classmethod
    def generate(cls) -> WorkerKey:
        """A fresh key kept only in memory."""
        return cls(_jose.generate_key())

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key."""
        return str(self._key.kid)

    def public_jwk_json(self) -> str:
        """The public JWK (no private member) as JSON, for registration."""
        return json.dumps(_jose.public_jwk(self._key), sort_keys=True)

    def _sign(self, typ: str, payload: bytes) -> str:
        return _jose.sign_compact({"typ": typ, "kid": self.kid}, payload, self._key)


def make_client_assertion(
    worker_key: WorkerKey,
    worker_id: str,
    audience: str,
    ttl_s: int = 60,
    *,
    clock: Callable[[], float] = time.time,
) -> str:
    """A signed, single-use assertion that *worker_id* is calling *audience*."""
    if not 0 < ttl_s <= MAX_ASSERTION_LIFETIME_S:
        raise ValueError(f"ttl_s must be in 1..{MAX_ASSERTION_LIFETIME_S}")
    now = int(clock())
    claims = {
        "iss": worker_id,
        "sub": worker_id,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    return worker_key._sign(ASSERTION_TYPE, _canonical_json(claims))


def verify_client_assertion(
    assertion: str,
    public_jwk_json: str,
    worker_id: str,
    audience: str,
    seen: SeenTokenIdRepository,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Return if *assertion* proves *worker_id* for *audience*; else `Unauthenticated`.

    The last check records the assertion's id in *seen*, in the caller's
    transaction: the caller commits it before acting on the assertion.
    """
    key = _registered_key(public_jwk_json, Unauthenticated("worker key not usable"))
    payload = _verified(assertion, key, ASSERTION_TYPE, Unauthenticated("assertion invalid"))
    claims = _json_object(payload, Unauthenticated("assertion invalid"))
    now = clock()
    _check_assertion_claims(claims, worker_id, audience, int(now))
    # Remembered past the last second at which the assertion's exp still passes the leeway.
    until = datetime.fromtimestamp(claims["exp"] + LEEWAY_S + 1, UTC)
    key_id = f"{worker_id}\x00{claims['jti']}"
    if not seen.first_use(_NAMESPACE, key_id, until, datetime.fromtimestamp(now, UTC)):
        raise Unauthenticated("assertion already used")


def sign_result(worker_key: WorkerKey, job_id: str, lease_id: str, result_bytes: bytes) -> str:
    """A compact JWS binding *result_bytes* (by SHA-256) to this job and lease."""
    return worker_key._sign(RESULT_TYPE, _result_payload(job_id, lease_id, result_bytes))


def verify_result_signature(
    signature: str,
    public_jwk_json: str,
    job_id: str,
    lease_id: str,
    result_bytes: bytes,
) -> None:
    """Return if *signature* covers exactly this job, lease and result; else `IntegrityError`."""
    key = _registered_key(public_jwk_json, IntegrityError("worker key not usable"))
    payload = _verified(signature, key, RESULT_TYPE, IntegrityError("result signature invalid"))
    expected = _result_payload(job_id, lease_id, result_bytes)
    # Both sides are canonical JSON, so equal content means equal bytes.
    if not hmac.compare_digest(payload, expected):
        raise IntegrityError("result signature does not match this job, lease or result")


def _check_assertion_claims(
    claims: dict[str, Any], worker_id: str, audience: str, now: int
) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_S,
        iss={"essential": True, "value": worker_id},
        sub={"essential": True, "value": worker_id},
        aud={"essential": True, "value": audience},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthenticated("assertion expired") from None
    except MissingClaimError:
        raise Unauthenticated("assertion missing required claims") from None
    except JoseError:
        raise Unauthenticated("assertion claims not accepted") from None
    iat, exp, jti = claims["iat"], claims["exp"], claims["jti"]
    if type(iat) is not int or type(exp) is not int or exp <= iat:
        raise Unauthenticated("assertion claims not accepted")
    if exp - iat > MAX_ASSERTION_LIFETIME_S:
        raise Unauthenticated("assertion lifetime too long")
    if not isinstance(jti, str) or len(jti) > _MAX_JTI_LENGTH:
        raise Unauthenticated("assertion claims not accepted")


def _registered_key(public_jwk_json: str, error: Exception) -> OKPKey:
    try:
        return _jose.import_public_jwk_json(public_jwk_json)
    except ValueError:
        raise error from None


def _verified(value: str, key: OKPKey, typ: str, error: Exception) -> bytes:
    """The payload of an EdDSA JWS of type *typ* signed by *key*, or raise *error*."""
    try:
        header = _jose.peek_header(value)
        if not _jose.has_only_our_header_members(header):
            raise error
        if header.get("typ") != typ or header.get("kid", key.kid) != key.kid:
            raise error
        return _jose.verify_compact(value, key)
    except (_jose.MalformedJWS, JoseError):
        raise error from None


def _json_object(payload: bytes, error: Exception) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        raise error from None
    if not isinstance(value, dict):
        raise error
    return value


def _result_payload(job_id: str, lease_id: str, result_bytes: bytes) -> bytes:
    digest = hashlib.sha256(result_bytes).hexdigest()
    return _canonical_json({"v": 1, "job_id": job_id, "lease_id": lease_id, "sha256": digest})


def _canonical_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
