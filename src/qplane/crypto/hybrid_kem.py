"""Hybrid post-quantum key encapsulation (X-Wing) and a sealed box on top.

Why: archives kept for reproducibility, key backups and exports outlive
today's public-key cryptography. Whoever records them now could decrypt them
once a quantum computer breaks X25519 ("harvest now, decrypt later"). A
hybrid KEM keeps them confidential while *either* ML-KEM-768 (post-quantum,
FIPS 203) *or* X25519 (classical, RFC 7748) holds: a quantum computer alone
is not enough, and neither is a flaw found in the much younger ML-KEM.

The KEM is X-Wing (draft-connolly-cfrg-xwing-kem; HPKE KEM id 0x647A) byte
for byte, checked against the first test vector of draft -08:

* decapsulation key: a 32-byte seed. SHAKE256(seed, 96 bytes) gives the
  ML-KEM-768 seed ``d || z`` (bytes 0-63) and the X25519 private key
  (bytes 64-95);
* encapsulation key (`HybridKemPublicKey.raw`): ``pk_M (1184) || pk_X (32)``;
* ciphertext: ``ct_M (1088) || ct_X (32)``, ``ct_X`` being the public half
  of a fresh ephemeral X25519 key;
* shared secret: ``SHA3-256(ss_M || ss_X || ct_X || pk_X || XWING_LABEL)``
  with the 6-byte label ``\\.//^\\`` last (see `xwing_combiner`).

Why this combiner is safe (Barbosa et al., "X-Wing", eprint 2024/039): if
X25519 falls, ``ss_M`` is still a uniform secret that only the recipient's
ML-KEM key recovers, and SHA3-256 of any input holding it looks random. If
ML-KEM falls, ``ss_X`` is still secret (Diffie-Hellman), and hashing it with
the ephemeral ``ct_X`` and the recipient's ``pk_X`` turns plain X25519 into a
KEM that is secure against chosen ciphertexts (as HPKE's DHKEM does): a
mauled ``ct_X`` changes the hash input. X-Wing deliberately leaves ``ct_M``
and ``pk_M`` out: ML-KEM's own secret already depends on them (its key
derivation hashes ``H(pk_M)``, and its Fujisaki-Okamoto re-encryption check
with implicit rejection makes any other ``ct_M`` yield an unrelated
``ss_M``; the paper proves ML-KEM ciphertext second-preimage resistant).
The sealed box below binds ``ct_M`` anyway, so it does not lean on that.

One deviation: X25519 shares of low order (which give an all-zero
Diffie-Hellman result) are refused, for ``pk_X`` when a public key is
loaded and for ``ct_X`` on decapsulation (`IntegrityError`). An honest peer
never produces them, so interoperability is unaffected.

The sealed box (`seal`/`open`) is what callers use: one fresh X-Wing
encapsulation per message, HKDF-SHA3-256 to an AES-256-GCM key, and a
self-describing blob::

    "QPSB" || 0x01 || key_id (32) || ct_M (1088) || ct_X (32)   -- header
           || nonce (12) || AES-256-GCM ciphertext-with-tag

    key = HKDF-SHA3-256(ikm=ss, salt=none,
                        info=encode_aad("qplane/sealed-box/v1/key", header))
    aad = encode_aad("qplane/sealed-box/v1", header, caller_aad)

Security properties:

* Any change to the blob (a bit, a swapped ciphertext, a truncation, an
  unknown version), a wrong recipient key or a wrong caller AAD raises
  `IntegrityError`, whose message names what failed and never carries a
  key, a shared secret or a plaintext.
* Private keys never print their material; their serialisation can be
  encrypted under a 32-byte wrapping key (see `HybridKemPrivateKey.to_bytes`).
"""

from __future__ import annotations

from typing import Final, NoReturn, final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qplane.crypto import _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto._hybrid_keys import (
    KEY_ID_BYTES,
    HybridPublicKey,
)
from qplane.crypto._hybrid_keys import VERSION as _VERSION
from qplane.crypto._hybrid_keys import armor as _armor
from qplane.crypto._hybrid_keys import check_header as _check_header
from qplane.crypto._hybrid_keys import check_key_id as _check_key_id
from qplane.crypto._hybrid_keys import dearmor as _dearmor
from qplane.crypto._hybrid_keys import decode_private as _decode_private
from qplane.crypto._hybrid_keys import encode_private as _encode_private
from qplane.crypto._hybrid_keys import sha3_256 as _sha3_256
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

SEED_BYTES: Final = 32
SHARED_SECRET_BYTES: Final = 32
MLKEM_PUBLIC_KEY_BYTES: Final = 1184
MLKEM_CIPHERTEXT_BYTES: Final = 1088
X25519_BYTES: Final = 32
PUBLIC_KEY_BYTES: Final = MLKEM_PUBLIC_KEY_BYTES + X25519_BYTES
CIPHERTEXT_BYTES: Final = MLKEM_CIPHERTEXT_BYTES + X25519_BYTES

#: X-Wing's domain-separation label, the ASCII art ``\.//^\``.
XWING_LABEL: Final = b"\x5c\x2e\x2f\x2f\x5e\x5c"

_KEY_ID_LABEL: Final = "qplane/hybrid-kem/key-id/v1"
_BOX_KEY_LABEL: Final = "qplane/sealed-box/v1/key"
_BOX_AAD_LABEL: Final = "qplane/sealed-box/v1"

_PUBLIC_MAGIC: Final = b"QPKP"
_PRIVATE_MAGIC: Final = b"QPKS"
_BOX_MAGIC: Final = b"QPSB"
_PUBLIC_PEM: Final = "QPLANE HYBRID KEM PUBLIC KEY"
_PRIVATE_PEM: Final = "QPLANE HYBRID KEM PRIVATE KEY"

_BOX_HEADER_BYTES: Final = len(_BOX_MAGIC) + len(_VERSION) + KEY_ID_BYTES + CIPHERTEXT_BYTES
_BOX_MIN_BYTES: Final = _BOX_HEADER_BYTES + _primitives.NONCE_BYTES + _primitives.TAG_BYTES


@final
class HybridKemPublicKey(HybridPublicKey):
    """An X-Wing encapsulation key ``pk_M (1184) || pk_X (32)``: anyone may seal to it."""

    __slots__ = ("_mlkem", "_x25519")
    _MAGIC = _PUBLIC_MAGIC
    _PEM = _PUBLIC_PEM
    _KEY_ID_LABEL = _KEY_ID_LABEL
    _WHAT = "hybrid KEM public key"
    _RAW_BYTES = PUBLIC_KEY_BYTES

    def _adopt(self, raw: bytes) -> None:
        try:
            self._mlkem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_KEY_BYTES])
            self._x25519 = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_KEY_BYTES:])
            # A low-order X25519 point makes every exchange fail; refuse it now.
            x25519.X25519PrivateKey.generate().exchange(self._x25519)
        except ValueError:
            raise IntegrityError("hybrid KEM public key is malformed: invalid component") from None


@final
class HybridKemPrivateKey:
    """An X-Wing decapsulation key. It never prints, pickles or copies its seed."""

    __slots__ = ("_mlkem", "_public", "_seed", "_x25519")

    def __init__(self, seed: SecretBytes) -> None:
        """Derive both component keys from the 32-byte X-Wing seed."""
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an X-Wing seed is {SEED_BYTES} bytes")
        xof = hashes.Hash(hashes.SHAKE256(digest_size=96))
        xof.update(seed.reveal())
        expanded = xof.finalize()
        self._seed = seed
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        self._public = HybridKemPublicKey(
            self._mlkem.public_key().public_bytes_raw()
            + self._x25519.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> HybridKemPrivateKey:
        """A new key pair from 32 bytes of the operating system's CSPRNG."""
        return cls(_primitives.random_key())

    def public_key(self) -> HybridKemPublicKey:
        """The matching encapsulation key."""
        return self._public

    def to_bytes(self, *, wrapping_key: SecretBytes | None) -> bytes:
        """Serialise the seed, encrypted under *wrapping_key* unless it is ``None``.

        The wrapping key is a 32-byte key from the key hierarchy (a KEK, or
        a fresh key stored wrapped by a `KeyProvider`, which is how an HSM
        protects it), not a passphrase: a passphrase would need a
        memory-hard KDF and would still be the weakest link of a key meant
        to last decades. Passing ``None`` is an explicit choice to get the
        seed in the clear, for a 0600 key file (`keyfiles`).
        Format: see `_encode_private`.
        """
        return _encode_private(_PRIVATE_MAGIC, self._public.key_id, self._seed, wrapping_key)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, wrapping_key: SecretBytes | None = None
    ) -> HybridKemPrivateKey:
        """Reverse `to_bytes`.

        Raises `KeyUnavailable` for an encrypted key without *wrapping_key*,
        and `IntegrityError` for a wrong wrapping key, any tampering, or an
        unencrypted key when *wrapping_key* was given (a downgrade).
        """
        key_id, seed = _decode_private(
            _PRIVATE_MAGIC, data, SEED_BYTES, wrapping_key, what="hybrid KEM private key"
        )
        key = cls(seed)
        _check_key_id(key._public.key_id, key_id, what="hybrid KEM private key")
        return key

    def to_pem(self, *, wrapping_key: SecretBytes | None) -> str:
        """`to_bytes` as base64 text between BEGIN/END lines."""
        return _armor(_PRIVATE_PEM, self.to_bytes(wrapping_key=wrapping_key))

    @classmethod
    def from_pem(cls, text: str, *, wrapping_key: SecretBytes | None = None) -> HybridKemPrivateKey:
        """Reverse `to_pem`, with the errors of `from_bytes`."""
        data = _dearmor(_PRIVATE_PEM, text, what="hybrid KEM private key")
        return cls.from_bytes(data, wrapping_key=wrapping_key)

    def __repr__(self) -> str:
        return f"HybridKemPrivateKey(<secret redacted>, key_id={self._public.fingerprint[:16]}…)"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("private keys cannot be pickled or copied")


def xwing_combiner(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> SecretBytes:
    """X-Wing's combiner: ``SHA3-256(ss_M || ss_X || ct_X || pk_X || XWING_LABEL)``.

    Every input is exactly 32 bytes, so plain concatenation is unambiguous;
    the label comes last, as in the draft (putting it first gives a
    different, incompatible secret).
    """
    for value in (ss_m, ss_x, ct_x, pk_x):
        if len(value) != 32:
            raise ValueError("every X-Wing combiner input is 32 bytes")
    return SecretBytes(_sha3_256(ss_m, ss_x, ct_x, pk_x, XWING_LABEL))


def encapsulate(recipient: HybridKemPublicKey) -> tuple[SecretBytes, bytes]:
    """A fresh shared secret for *recipient*; returns ``(shared_secret, ciphertext)``."""
    ss_m, ct_m = recipient._mlkem.encapsulate()
    ephemeral = x25519.X25519PrivateKey.generate()
    ct_x = ephemeral.public_key().public_bytes_raw()
    ss_x = ephemeral.exchange(recipient._x25519)
    pk_x = recipient.raw[MLKEM_PUBLIC_KEY_BYTES:]
    return xwing_combiner(ss_m, ss_x, ct_x, pk_x), ct_m + ct_x


def decapsulate(private: HybridKemPrivateKey, ciphertext: bytes) -> SecretBytes:
    """The shared secret in *ciphertext*.

    Like ML-KEM, a tampered ciphertext yields an unrelated secret rather
    than an error (implicit rejection), so the caller's AEAD is what
    detects it; only malformed input raises `IntegrityError` here.
    """
    if len(ciphertext) != CIPHERTEXT_BYTES:
        raise IntegrityError("hybrid KEM ciphertext failed to verify: wrong length")
    ct_m, ct_x = ciphertext[:MLKEM_CIPHERTEXT_BYTES], ciphertext[MLKEM_CIPHERTEXT_BYTES:]
    ss_m = private._mlkem.decapsulate(ct_m)
    try:
        ss_x = private._x25519.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    except ValueError:
        raise IntegrityError(
            "hybrid KEM ciphertext failed to verify: invalid X25519 share"
        ) from None
    pk_x = private.public_key().raw[MLKEM_PUBLIC_KEY_BYTES:]
    return xwing_combiner(ss_m, ss_x, ct_x, pk_x)


def seal(recipient: HybridKemPublicKey, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt *plaintext* so that only *recipient*'s private key opens it.

    *aad* (which may be ``b""``) is authenticated, not stored: `open` needs
    the same bytes. Use it to say what the blob is, e.g. which tenant's
    export, so a box cannot be passed off as another.
    """
    shared, kem_ciphertext = encapsulate(recipient)
    header = _BOX_MAGIC + _VERSION + recipient.key_id + kem_ciphertext
    nonce, ciphertext = _primitives.encrypt(
        _box_key(shared, header), plaintext, _box_aad(header, aad)
    )
    return header + nonce + ciphertext


def open(recipient: HybridKemPrivateKey, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a `seal` blob, or raise `IntegrityError` saying what failed.

    (Named like `Envelope.open`; call it as ``hybrid_kem.open``.)
    """
    header, nonce, ciphertext = _split_box(blob)
    _check_key_id(recipient.public_key().key_id, _box_key_id(header), what="sealed box")
    shared = decapsulate(recipient, header[-CIPHERTEXT_BYTES:])
    return _primitives.decrypt(
        _box_key(shared, header), nonce, ciphertext, _box_aad(header, aad), what="sealed box"
    )


def recipient_key_id(blob: bytes) -> bytes:
    """The `key_id` of the key a sealed box was sealed for (to pick the private key)."""
    header, _, _ = _split_box(blob)
    return _box_key_id(header)


def _box_key_id(header: bytes) -> bytes:
    start = len(_BOX_MAGIC) + len(_VERSION)
    return header[start : start + KEY_ID_BYTES]


def _split_box(blob: bytes) -> tuple[bytes, bytes, bytes]:
    _check_header(blob, _BOX_MAGIC, what="sealed box")
    if len(blob) < _BOX_MIN_BYTES:
        raise IntegrityError("sealed box failed to verify: truncated")
    nonce_end = _BOX_HEADER_BYTES + _primitives.NONCE_BYTES
    return blob[:_BOX_HEADER_BYTES], blob[_BOX_HEADER_BYTES:nonce_end], blob[nonce_end:]


def _box_key(shared: SecretBytes, header: bytes) -> SecretBytes:
    kdf = HKDF(
        algorithm=hashes.SHA3_256(),
        length=_primitives.KEY_BYTES,
        salt=None,
        info=encode_aad(_BOX_KEY_LABEL, header),
    )
    return _primitives.key_from_bytes(kdf.derive(shared.reveal()))


def _box_aad(header: bytes, aad: bytes) -> bytes:
    return encode_aad(_BOX_AAD_LABEL, header, aad)
