"""The keys that sign the audit logs' checkpoints, and the origins they sign for.

Why a key of its own: a checkpoint is evidence handed to tenants and
auditors, who pin its verifier key. It must not share a key with tokens
(rotated often) or result attestations. The Ed25519 key lives in
``key_dir/audit-checkpoint.pem``; with post-quantum signing on (the
default) a composite ML-DSA-65 + Ed25519 key in
``key_dir/audit-checkpoint-pq.pem`` adds a second signature line, so a
checkpoint stays unforgeable while either algorithm holds. Both files are
created on first start, 0600, like every key file of the data directory.

Each log has its own origin, ``<platform origin>/audit/<log>``, and every
key is named after the platform origin, so one verifier key checks every
log while a checkpoint of one log can never stand in for another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from qplane.audit.note import (
    Ed25519NoteSigner,
    HybridNoteSigner,
    NoteSigner,
    NoteVerifier,
    is_valid_key_name,
)
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hybrid_signature import HybridSignaturePrivateKey
from qplane.crypto.keyfiles import load_or_create_secret_file
from qplane.domain.errors import IntegrityError

ED25519_FILE: Final = "audit-checkpoint.pem"
HYBRID_FILE: Final = "audit-checkpoint-pq.pem"


def log_origin(platform_origin: str, log: str) -> str:
    """The checkpoint origin of *log*: one per log, all under the platform's name."""
    return f"{platform_origin}/audit/{log}"


@dataclass(frozen=True)
class CheckpointKeys:
    """The platform's checkpoint signers and the verifier keys it publishes."""

    origin: str
    signers: tuple[NoteSigner, ...]
    verifiers: tuple[NoteVerifier, ...]

    @classmethod
    def load_or_create(
        cls, key_dir: Path, origin: str, *, post_quantum: bool = True
    ) -> CheckpointKeys:
        if not is_valid_key_name(origin):
            raise ValueError(f"audit origin {origin!r} must be non-empty, without spaces or '+'")
        ed25519_signer = Ed25519NoteSigner(origin, _ed25519(key_dir / ED25519_FILE))
        signers: list[NoteSigner] = [ed25519_signer]
        verifiers: list[NoteVerifier] = [ed25519_signer.verifier()]
        if post_quantum:
            hybrid_signer = HybridNoteSigner(origin, _hybrid(key_dir / HYBRID_FILE))
            signers.append(hybrid_signer)
            verifiers.append(hybrid_signer.verifier())
        return cls(origin, tuple(signers), tuple(verifiers))

    @property
    def vkeys(self) -> tuple[str, ...]:
        """The verifier keys as text (``<name>+<id>+<key>``), for tenants to pin."""
        return tuple(verifier.vkey for verifier in self.verifiers)


def _ed25519(path: Path) -> ed25519.Ed25519PrivateKey:
    def make() -> bytes:
        return ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    data = load_or_create_secret_file(path, make)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyUnavailable(f"the checkpoint key file {path} is not a clear Ed25519 key")
    return key


def _hybrid(path: Path) -> HybridSignaturePrivateKey:
    def make() -> bytes:
        return HybridSignaturePrivateKey.generate().to_pem(wrapping_key=None).encode("ascii")

    data = load_or_create_secret_file(path, make)
    try:
        return HybridSignaturePrivateKey.from_pem(data.decode("ascii"))
    except (UnicodeDecodeError, IntegrityError, KeyUnavailable):
        raise KeyUnavailable(
            f"the checkpoint key file {path} is not a clear composite signing key"
        ) from None
