"""Result attestations: the platform's composite signature over what a job ran and returned.

Why: an archived result is checked long after the run, by people who may
never talk to this platform. A statement naming the job, its backend,
shots and seed and the SHA-256 of its circuit and result, signed with the
platform's hybrid ML-DSA-65 + Ed25519 key (`qplane.crypto.hybrid_signature`),
lets anyone holding the published public key check it, and stays
unforgeable while either signature algorithm holds.

The statement is canonical JSON (keys sorted, no whitespace, ASCII only),
so the bytes signed are the bytes carried; a statement in any other form is
refused rather than re-encoded::

    {"attestation_key_id": <hex>, "backend": ..., "circuit_sha256": <hex>,
     "finished_at": <ISO 8601 UTC>, "job_id": ..., "result_sha256": <hex>,
     "seed": <int or null>, "shots": <int>, "tenant_id": ...}

    signature = hybrid_signature.sign(key, statement, "qplane/result-attestation/v1")

The platform's key lives in ``key_dir/attestation.pem``: created on first
start, mode 0600 in a 0700 directory, its seeds in the clear like the
token-signing keys beside it; a file that group or others can access is
refused (`InsecureKeyFile`), as the root key is.

Security properties: `verify_attestation` returns a statement only when the
signature is the given key's over exactly the carried bytes, under this
context, and the statement names that key; `ResultStatement.require_artifacts`
raises unless the circuit and result are the ones attested. Every failure
is `IntegrityError`; nothing here ever prints key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Final, final

from qplane.crypto import hybrid_signature
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hybrid_signature import HybridSignaturePrivateKey, HybridSignaturePublicKey
from qplane.crypto.keyfiles import load_or_create_secret_file
from qplane.domain.errors import IntegrityError

#: The signature context of result attestations: never valid for anything else.
ATTESTATION_CONTEXT: Final = "qplane/result-attestation/v1"
#: The algorithm, as the public key endpoint and the archives name it.
ALGORITHM: Final = "MLDSA65-Ed25519-SHA512 (qplane composite signature v1)"
KEY_FILE: Final = "attestation.pem"
_HEX_256: Final = re.compile(r"[0-9a-f]{64}")
_TEXT_FIELDS: Final = ("job_id", "tenant_id", "backend", "finished_at")
_HASH_FIELDS: Final = ("circuit_sha256", "result_sha256", "attestation_key_id")


def sha256_hex(data: bytes) -> str:
    """SHA-256 of *data* in lowercase hex, as statements carry it."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ResultStatement:
    """What the platform attests about one job's run."""

    job_id: str
    tenant_id: str
    backend: str
    shots: int
    seed: int | None
    circuit_sha256: str
    result_sha256: str
    finished_at: str
    attestation_key_id: str

    def to_bytes(self) -> bytes:
        """The canonical JSON the signature covers."""
        return _canonical(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> ResultStatement:
        """Parse a statement; `IntegrityError` unless it is exactly one, in canonical form."""
        try:
            parsed = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _malformed("not ASCII JSON") from None
        if not isinstance(parsed, dict) or set(parsed) != _STATEMENT_FIELDS:
            raise _malformed("wrong fields")
        statement = cls(**parsed)
        statement._check_types()
        if statement.to_bytes() != data:
            raise _malformed("not in canonical form")
        return statement

    def require_artifacts(self, circuit_source: bytes, result_json: bytes) -> None:
        """Raise `IntegrityError` unless these are the circuit and result this statement names."""
        if sha256_hex(circuit_source) != self.circuit_sha256:
            raise IntegrityError("the circuit is not the one attested: its SHA-256 differs")
        if sha256_hex(result_json) != self.result_sha256:
            raise IntegrityError("the result is not the one attested: its SHA-256 differs")

    def _check_types(self) -> None:
        if any(not isinstance(getattr(self, name), str) for name in _TEXT_FIELDS):
            raise _malformed("a text field is not a string")
        if any(not _is_hex_256(getattr(self, name)) for name in _HASH_FIELDS):
            raise _malformed("a digest or key id is not 64 lowercase hex digits")
        if not _is_int(self.shots) or not (self.seed is None or _is_int(self.seed)):
            raise _malformed("shots and seed must be integers")


_STATEMENT_FIELDS: Final = frozenset(field.name for field in fields(ResultStatement))


@dataclass(frozen=True, slots=True)
class Attestation:
    """A statement's exact bytes and the platform's composite signature over them."""

    statement: bytes
    signature: bytes

    @property
    def key_id(self) -> str:
        """The signing key's id (hex), read from the signature; not yet verified."""
        return hybrid_signature.signature_key_id(self.signature).hex()

    def to_json(self) -> dict[str, str]:
        """The attestation as archives and files carry it (statement as text, signature base64)."""
        return {
            "context": ATTESTATION_CONTEXT,
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "statement": self.statement.decode("ascii"),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, value: object) -> Attestation:
        """Reverse `to_json`; `IntegrityError` for anything malformed (verification is apart)."""
        if not isinstance(value, dict):
            raise IntegrityError("attestation is malformed: not an object")
        statement, signature = value.get("statement"), value.get("signature")
        if value.get("context") != ATTESTATION_CONTEXT:
            raise IntegrityError("attestation is malformed: not a result attestation")
        if not isinstance(statement, str) or not isinstance(signature, str):
            raise IntegrityError("attestation is malformed: statement or signature missing")
        try:
            return cls(statement.encode("ascii"), base64.b64decode(signature, validate=True))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise IntegrityError("attestation is malformed: invalid encoding") from None


def verify_attestation(
    public: HybridSignaturePublicKey, attestation: Attestation
) -> ResultStatement:
    """The attested statement, once *public*'s composite signature over it verifies.

    Raises `IntegrityError` for a signature by another key, under another
    context, over other bytes, with either half broken, and for a statement
    that names another attestation key.
    """
    hybrid_signature.verify(
        public, attestation.statement, attestation.signature, ATTESTATION_CONTEXT
    )
    statement = ResultStatement.from_bytes(attestation.statement)
    if statement.attestation_key_id != public.fingerprint:
        raise IntegrityError("attestation failed to verify: the statement names another key")
    return statement


@final
class AttestationKey:
    """The platform's attestation signing key. It never prints, pickles or copies."""

    __slots__ = ("_private",)

    def __init__(self, private: HybridSignaturePrivateKey) -> None:
        self._private = private

    @classmethod
    def load_or_create(cls, key_dir: Path) -> AttestationKey:
        """Load ``key_dir/attestation.pem``, creating it (0600) on first start.

        Raises `InsecureKeyFile` when group or others can access the file,
        and `KeyUnavailable` when it is not a composite signing key.
        """
        path = key_dir / KEY_FILE

        def make() -> bytes:
            return HybridSignaturePrivateKey.generate().to_pem(wrapping_key=None).encode("ascii")

        data = load_or_create_secret_file(path, make)
        try:
            return cls(HybridSignaturePrivateKey.from_pem(data.decode("ascii")))
        except (UnicodeDecodeError, IntegrityError, KeyUnavailable):
            raise KeyUnavailable(
                f"the attestation key file {path} is not a clear composite signing key"
            ) from None

    @classmethod
    def ephemeral(cls) -> AttestationKey:
        """A key held in memory only (tests, one-shot tools)."""
        return cls(HybridSignaturePrivateKey.generate())

    @property
    def public_key(self) -> HybridSignaturePublicKey:
        return self._private.public_key()

    @property
    def key_id(self) -> str:
        """The public key's id in hex: statements name it, verifiers pick the key by it."""
        return self._private.public_key().fingerprint

    def attest(self, statement: ResultStatement) -> Attestation:
        """Sign *statement*, which must name this key."""
        if statement.attestation_key_id != self.key_id:
            raise ValueError("the statement names another attestation key")
        data = statement.to_bytes()
        return Attestation(data, hybrid_signature.sign(self._private, data, ATTESTATION_CONTEXT))

    def __repr__(self) -> str:
        return f"AttestationKey(<secret redacted>, key_id={self.key_id[:16]}…)"


def _canonical(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hex_256(value: object) -> bool:
    return isinstance(value, str) and _HEX_256.fullmatch(value) is not None


def _malformed(why: str) -> IntegrityError:
    return IntegrityError(f"attestation statement is malformed: {why}")
