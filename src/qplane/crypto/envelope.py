"""Envelope encryption of tenant data (circuits, results, logs, secrets).

Each value gets a fresh 256-bit data key; the payload is encrypted with
AES-256-GCM under it, and the data key is wrapped by the newest active KEK
version of a key ring through that ring's `KeyProvider`. Only the
`SealedArtifact` (ciphertext, nonce, wrapped key, ring and KEK version) is
ever stored.

Security properties:

* Binding: the payload's AAD encodes the `ArtifactBinding` (tenant,
  project, job, kind, format version); the wrapped data key's AAD encodes
  the same binding plus the ring and the KEK version. A ciphertext or
  wrapped key moved to another tenant, project, job, kind, ring or version,
  or altered by one bit, fails with `IntegrityError`. Rotation rewraps the
  data key only (`rewrap`), so payloads are never decrypted to rotate.
* Retirement: a value whose KEK version is below its ring's minimum
  decryption version is refused with `IntegrityError` — after every value
  was rewrapped, an old wrapping can only come from a replayed backup.
* Freshness: two seals of the same plaintext share no key, nonce or
  ciphertext.
* Nothing here logs, stores or raises with a key or plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyring import owner_of
from qplane.crypto.providers import KeyProviders
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError
from qplane.domain.keys import KekState, KekVersion, KeyRing, RingState
from qplane.domain.ports import KeyRingRepository, SealedArtifact

ARTIFACT_FORMAT: Final = "qplane/artifact/v1"
_LEGACY_DATA_KEY_LABEL: Final = "qplane/data-key/v1"
_DATA_KEY_LABEL: Final = "qplane/data-key/v2"


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
    """Seals and opens values under the KEKs of key rings."""

    __slots__ = ("_providers", "_rings")

    def __init__(self, providers: KeyProviders, rings: KeyRingRepository) -> None:
        self._providers = providers
        self._rings = rings

    def seal(self, plaintext: bytes, binding: ArtifactBinding, ring_name: str) -> SealedArtifact:
        """Encrypt *plaintext* bound to *binding* under *ring_name*'s newest KEK."""
        ring = self._usable_ring(ring_name)
        kek = self._rings.latest(ring.name)
        if kek is None:
            raise KeyUnavailable("the key ring has no active key version")
        aad = binding.aad()
        data_key = _primitives.random_key()
        nonce, ciphertext = _primitives.encrypt(data_key, plaintext, aad)
        wrapped = self._providers.for_version(ring, kek).wrap(
            ring, kek, data_key, _wrap_aad(ring, kek, aad)
        )
        return SealedArtifact(
            kek_version=kek.version,
            wrapped_key=wrapped,
            nonce=nonce,
            ciphertext=ciphertext,
            kek_ring=ring.name,
        )

    def open(self, sealed: SealedArtifact, binding: ArtifactBinding) -> bytes:
        """Decrypt *sealed* if, and only if, it was sealed for exactly *binding*.

        Raises `IntegrityError` for a wrong binding, any tampering or a
        retired key version, and `KeyUnavailable` when the key is gone
        (shredded) or its provider cannot use it (a disabled customer key).
        """
        aad = binding.aad()
        data_key = self._data_key(sealed, aad)
        return _primitives.decrypt(
            data_key, sealed.nonce, sealed.ciphertext, aad, what="artifact ciphertext"
        )

    def rewrap(self, sealed: SealedArtifact, binding: ArtifactBinding, to: KekVersion) -> bytes:
        """The data key of *sealed* wrapped under KEK *to* of the same ring (payload untouched)."""
        aad = binding.aad()
        data_key = self._data_key(sealed, aad)
        ring = self._usable_ring(sealed.kek_ring)
        return self._providers.for_version(ring, to).wrap(
            ring, to, data_key, _wrap_aad(ring, to, aad)
        )

    def _data_key(self, sealed: SealedArtifact, aad: bytes) -> SecretBytes:
        ring = self._usable_ring(sealed.kek_ring)
        if sealed.kek_version < ring.min_decrypt_version:
            raise IntegrityError(
                f"sealed under key version {sealed.kek_version}, which is retired "
                f"(the ring accepts {ring.min_decrypt_version} and later)"
            )
        kek = self._rings.version(ring.name, sealed.kek_version)
        if kek is None:
            raise IntegrityError("sealed under a key version that never existed")
        if kek.state is not KekState.ACTIVE:
            raise KeyUnavailable(f"key version {kek.version} of this data is {kek.state.value}")
        return self._providers.for_version(ring, kek).unwrap(
            ring, kek, sealed.wrapped_key, _wrap_aad(ring, kek, aad)
        )

    def _usable_ring(self, name: str) -> KeyRing:
        ring = self._rings.ring(name)
        if ring is None:
            raise KeyUnavailable("no key ring for this data")
        if ring.state is RingState.SHREDDED:
            raise KeyUnavailable("the key for this data was crypto-shredded")
        return ring


def _wrap_aad(ring: KeyRing, kek: KekVersion, binding_aad: bytes) -> bytes:
    if kek.aad_format == 1:  # KEKs from before rings: their data keys never named the ring
        return encode_aad(_LEGACY_DATA_KEY_LABEL, owner_of(ring), kek.version, binding_aad)
    return encode_aad(_DATA_KEY_LABEL, ring.name, kek.version, binding_aad)
