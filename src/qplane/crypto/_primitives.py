"""The dangerous layer: AES-256-GCM and random keys. Nothing else calls AEAD.

Only the recipes in this package (`keyring`, `envelope`) import this module;
nothing outside `qplane.crypto` does. Every operation here authenticates
associated data (AAD), and every nonce is 96 random bits from the OS CSPRNG.

Security properties:

* A failed authentication (wrong key, wrong AAD, any flipped bit) raises
  `IntegrityError` naming *what* failed to verify, never a key, a nonce, a
  plaintext or a ciphertext; the library's `InvalidTag` is not chained.
* Random nonces bound each key to well under 2**32 encryptions; callers use
  data keys once, and a tenant key wraps one data key per artifact, so the
  bound is never approached between rotations.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16

# A wrapped key is WRAP_FORMAT || nonce || ciphertext-with-tag; the leading
# byte lets a later format (say, a post-quantum hybrid) coexist with this one.
_WRAP_FORMAT: Final = b"\x01"
WRAPPED_KEY_BYTES: Final = len(_WRAP_FORMAT) + NONCE_BYTES + KEY_BYTES + TAG_BYTES


def random_key() -> SecretBytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return SecretBytes(os.urandom(KEY_BYTES))


def encrypt(key: SecretBytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt and authenticate; returns ``(nonce, ciphertext_with_tag)``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, _aead(key).encrypt(nonce, plaintext, aad)


def decrypt(key: SecretBytes, nonce: bytes, ciphertext: bytes, aad: bytes, *, what: str) -> bytes:
    """Verify and decrypt, or raise `IntegrityError` saying that *what* failed."""
    if len(nonce) != NONCE_BYTES:
        raise IntegrityError(f"{what} failed to verify: malformed nonce")
    try:
        return _aead(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise IntegrityError(
            f"{what} failed to verify: wrong key, wrong binding or tampered data"
        ) from None


def wrap_key(kek: SecretBytes, key: SecretBytes, aad: bytes) -> bytes:
    """Encrypt *key* under *kek*, binding *aad*; the result is safe to store."""
    nonce, ciphertext = encrypt(kek, key.reveal(), aad)
    return _WRAP_FORMAT + nonce + ciphertext


def unwrap_key(kek: SecretBytes, wrapped: bytes, aad: bytes, *, what: str) -> SecretBytes:
    """Reverse `wrap_key`, or raise `IntegrityError` saying that *what* failed."""
    if len(wrapped) != WRAPPED_KEY_BYTES or wrapped[:1] != _WRAP_FORMAT:
        raise IntegrityError(f"{what} failed to verify: malformed wrapped key")
    nonce = wrapped[1 : 1 + NONCE_BYTES]
    return SecretBytes(decrypt(kek, nonce, wrapped[1 + NONCE_BYTES :], aad, what=what))


def key_from_bytes(raw: bytes) -> SecretBytes:
    """Adopt externally supplied key bytes (the root key), checking the size."""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes")
    return SecretBytes(raw)


def _aead(key: SecretBytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"AES-256-GCM needs a {KEY_BYTES}-byte key")
    return AESGCM(key.reveal())
