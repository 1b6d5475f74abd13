"""What the hybrid KEM and signature keys share: file formats, armour, key ids.

Both `qplane.crypto.hybrid_kem` and `qplane.crypto.hybrid_signature` store
keys as ``magic || version || …`` bytes, armour them as PEM-like text and
name them by a SHA3-256 key id; the code for that lives here once.
"""

from __future__ import annotations

import base64
import binascii
import textwrap
from abc import ABC, abstractmethod
from typing import ClassVar, Final, Self

from cryptography.hazmat.primitives import hashes

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

KEY_ID_BYTES: Final = 32
VERSION: Final = b"\x01"
_PRIVATE_KEY_AAD_LABEL: Final = "qplane/private-key/v1"
# Private-key protection byte: stored in the clear (and authenticated).
_PLAIN: Final = b"\x00"
_WRAPPED: Final = b"\x01"


class HybridPublicKey(ABC):
    """A public key made of two component keys, named by a labelled SHA3-256 key id.

    Subclasses set the format constants and adopt the components in
    `_adopt`, raising `IntegrityError` for malformed input.
    """

    __slots__ = ("_key_id", "_raw")
    _MAGIC: ClassVar[bytes]
    _PEM: ClassVar[str]
    _KEY_ID_LABEL: ClassVar[str]
    _WHAT: ClassVar[str]
    _RAW_BYTES: ClassVar[int]

    def __init__(self, raw: bytes) -> None:
        raw = bytes(raw)
        if len(raw) != self._RAW_BYTES:
            raise IntegrityError(f"{self._WHAT} is malformed: wrong length")
        self._adopt(raw)
        self._raw = raw
        self._key_id = sha3_256(encode_aad(self._KEY_ID_LABEL, raw))

    @abstractmethod
    def _adopt(self, raw: bytes) -> None:
        """Parse *raw* into the component keys; raise `IntegrityError` if malformed."""

    @property
    def raw(self) -> bytes:
        """The two component public keys, concatenated."""
        return self._raw

    @property
    def key_id(self) -> bytes:
        """SHA3-256 over the labelled public key."""
        return self._key_id

    @property
    def fingerprint(self) -> str:
        """`key_id` in hex, for logs and operators."""
        return self._key_id.hex()

    def to_bytes(self) -> bytes:
        """``magic || 0x01 || raw``."""
        return self._MAGIC + VERSION + self._raw

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Reverse `to_bytes`; `IntegrityError` for anything else."""
        check_header(data, cls._MAGIC, what=cls._WHAT)
        return cls(data[len(cls._MAGIC) + len(VERSION) :])

    def to_pem(self) -> str:
        """`to_bytes` as base64 text between BEGIN/END lines."""
        return armor(self._PEM, self.to_bytes())

    @classmethod
    def from_pem(cls, text: str) -> Self:
        """Reverse `to_pem`; `IntegrityError` for anything else."""
        return cls.from_bytes(dearmor(cls._PEM, text, what=cls._WHAT))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, HybridPublicKey)
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.fingerprint[:16]}…)"


def encode_private(
    magic: bytes, key_id: bytes, secret: SecretBytes, wrapping_key: SecretBytes | None
) -> bytes:
    """``magic || 0x01 || protection || key_id (32) || body``.

    Protection 0x00: body is the secret. Protection 0x01: body is
    ``nonce (12) || AES-256-GCM(wrapping_key, secret)`` with AAD
    ``encode_aad("qplane/private-key/v1", magic || 0x01 || 0x01 || key_id)``,
    so a wrapped key cannot be relabelled as another key or another type.
    """
    if wrapping_key is None:
        return magic + VERSION + _PLAIN + key_id + secret.reveal()
    header = magic + VERSION + _WRAPPED + key_id
    nonce, ciphertext = _primitives.encrypt(
        wrapping_key, secret.reveal(), encode_aad(_PRIVATE_KEY_AAD_LABEL, header)
    )
    return header + nonce + ciphertext


def decode_private(
    magic: bytes,
    data: bytes,
    secret_len: int,
    wrapping_key: SecretBytes | None,
    *,
    what: str,
) -> tuple[bytes, SecretBytes]:
    """Reverse `encode_private`; returns ``(key_id, secret)``."""
    check_header(data, magic, what=what)
    at = len(magic) + len(VERSION)
    protection, key_id = data[at : at + 1], data[at + 1 : at + 1 + KEY_ID_BYTES]
    body = data[at + 1 + KEY_ID_BYTES :]
    if protection == _PLAIN:
        if wrapping_key is not None:
            raise IntegrityError(f"{what} failed to verify: expected an encrypted key")
        if len(key_id) != KEY_ID_BYTES or len(body) != secret_len:
            raise IntegrityError(f"{what} failed to verify: wrong length")
        return key_id, SecretBytes(body)
    if protection != _WRAPPED:
        raise IntegrityError(f"{what} failed to verify: unknown protection")
    if wrapping_key is None:
        raise KeyUnavailable(f"the {what} is encrypted and no wrapping key was given")
    expected = _primitives.NONCE_BYTES + secret_len + _primitives.TAG_BYTES
    if len(key_id) != KEY_ID_BYTES or len(body) != expected:
        raise IntegrityError(f"{what} failed to verify: wrong length")
    header = data[: at + 1 + KEY_ID_BYTES]
    nonce, ciphertext = body[: _primitives.NONCE_BYTES], body[_primitives.NONCE_BYTES :]
    secret = _primitives.decrypt(
        wrapping_key, nonce, ciphertext, encode_aad(_PRIVATE_KEY_AAD_LABEL, header), what=what
    )
    return key_id, SecretBytes(secret)


def check_header(data: bytes, magic: bytes, *, what: str) -> None:
    if data[: len(magic)] != magic:
        raise IntegrityError(f"{what} failed to verify: not a {what}")
    version = data[len(magic) : len(magic) + 1]
    if version != VERSION:
        shown = version[0] if version else "missing"
        raise IntegrityError(f"{what} failed to verify: unsupported format version {shown}")


def check_key_id(actual: bytes, expected: bytes, *, what: str) -> None:
    if actual != expected:
        raise IntegrityError(f"{what} failed to verify: it belongs to another key")


def armor(label: str, data: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def dearmor(label: str, text: str, *, what: str) -> bytes:
    lines = text.strip().splitlines()
    if (
        len(lines) < 3
        or lines[0] != f"-----BEGIN {label}-----"
        or lines[-1] != f"-----END {label}-----"
    ):
        raise IntegrityError(f"{what} failed to verify: not a {label} block")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"{what} failed to verify: invalid base64") from None


def sha3_256(*parts: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA3_256())
    for part in parts:
        digest.update(part)
    return digest.finalize()
