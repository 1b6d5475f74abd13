"""Envelope encryption of tenant artifacts (circuits, parameters, results).

Each artifact gets a fresh 256-bit data key; the payload is encrypted with
AES-256-GCM under it, and the data key is wrapped by the tenant's latest
key-encryption key through a `KeyProvider`. Only the `SealedArtifact`
(ciphertext, nonce, wrapped key, KEK version) is ever stored.

Security properties:

* Binding: the payload's AAD and the wrapped key's AAD both encode the
  `ArtifactBinding` (tenant, project, job, kind, format version), and the
  wrapped key's AAD also the KEK version. A ciphertext or wrapped key moved
  to another tenant, project, job or kind, or altered by one bit, fails to
  open with `IntegrityError`.
* Freshness: two seals of the same plaintext share no key, nonce or
  ciphertext.
* Nothing here logs, stores or raises with a key or plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.keyring import KeyProvider
from qplane.domain.ports import SealedArtifact, TenantKeyRepository

ARTIFACT_FORMAT: Final = "qplane/artifact/v1"


@dataclass(frozen=True, slots=True)
class ArtifactBinding:
    """Where an artifact belongs; sealed into it and checked on every open."""

    tenant_id: str
    project_id: str
    job_id: str
    kind: str

    def __post_init__(self) -> None:
        for name in ("tenant_id", "project_id", "job_id", "kind"):
            if not getattr(self, name):
                raise ValueError(f"ArtifactBinding.{name} must not be empty")

    def aad(self) -> bytes:
        """Canonical bytes: format label then tagged, length-prefixed fields."""
        return encode_aad(ARTIFACT_FORMAT, self.tenant_id, self.project_id, self.job_id, self.kind)


class Envelope:
    """Seals and opens artifacts under per-tenant keys."""

    __slots__ = ("_keys", "_provider")

    def __init__(self, provider: KeyProvider, keys: TenantKeyRepository) -> None:
        self._provider = provider
        self._keys = keys

    def seal(self, plaintext: bytes, binding: ArtifactBinding) -> SealedArtifact:
        """Encrypt *plaintext* bound to *binding*; `KeyUnavailable` if the tenant has no key."""
        aad = binding.aad()
        data_key = _primitives.random_key()
        nonce, ciphertext = _primitives.encrypt(data_key, plaintext, aad)
        version, wrapped = self._provider.wrap_data_key(
            binding.tenant_id, data_key, aad, self._keys
        )
        return SealedArtifact(
            kek_version=version, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext
        )

    def open(self, sealed: SealedArtifact, binding: ArtifactBinding) -> bytes:
        """Decrypt *sealed* if, and only if, it was sealed for exactly *binding*.

        Raises `IntegrityError` for a wrong binding or any tampering, and
        `KeyUnavailable` when the KEK version it names is gone.
        """
        aad = binding.aad()
        data_key = self._provider.unwrap_data_key(
            binding.tenant_id, sealed.kek_version, sealed.wrapped_key, aad, self._keys
        )
        return _primitives.decrypt(
            data_key, sealed.nonce, sealed.ciphertext, aad, what="artifact ciphertext"
        )
