"""Composite ML-DSA-65 + Ed25519 signatures for statements that must stay verifiable.

Why: an audit checkpoint or a result attestation is checked years after it
was signed. An Ed25519 signature alone could then be forged by whoever has a
quantum computer; an ML-DSA-65 signature (FIPS 204) alone rests on a scheme
with a much shorter track record. A composite signature carries both, and
verifies only when *both* do, so a forger must break both.

Construction, shaped like the IETF composite signatures
(draft-ietf-lamps-pq-composite-sigs, MLDSA65-Ed25519-SHA512) but with
qplane's own labels, so not byte-compatible with it::

    M' = encode_aad("qplane/hybrid-signature/MLDSA65-Ed25519-SHA512/v1",
                    context, pk_mldsa, pk_ed25519, SHA-512(message))
    sig_mldsa   = ML-DSA-65.Sign(sk_mldsa, M',
                                 ctx="qplane/hybrid-signature/MLDSA65-Ed25519-SHA512/v1")
    sig_ed25519 = Ed25519.Sign(sk_ed25519, M')
    signature   = "QPSG" || 0x01 || key_id (32) || sig_mldsa (3309) || sig_ed25519 (64)

* The label (first in ``M'`` and ML-DSA's context string) separates
  composite signatures from anything else these keys could sign, so one
  component cannot be lifted out and presented as a stand-alone signature
  (and the component keys are not meant to be used on their own).
* The caller's *context* (``"qplane/audit-checkpoint/v1"``, …) separates
  purposes: a signature made for one context never verifies under another.
* Both public keys are inside ``M'``, so each component signature commits to
  the whole composite key, not just its own half: a component cannot be
  paired with a different partner key.
* The message is pre-hashed with SHA-512, as the draft does for this pair;
  ``encode_aad`` keeps the fields unambiguous.

Security properties: `verify` raises `IntegrityError` unless the blob is
well formed, names this key, and both component signatures verify; its
message names what failed and never carries key material. Private keys
never print their material, and their serialisation can be encrypted under
a 32-byte wrapping key (as in `qplane.crypto.hybrid_kem`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn, final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from qplane.crypto._aad import encode_aad
from qplane.crypto._hybrid_keys import KEY_ID_BYTES, HybridPublicKey
from qplane.crypto._hybrid_keys import VERSION as _VERSION
from qplane.crypto._hybrid_keys import armor as _armor
from qplane.crypto._hybrid_keys import check_header as _check_header
from qplane.crypto._hybrid_keys import check_key_id as _check_key_id
from qplane.crypto._hybrid_keys import dearmor as _dearmor
from qplane.crypto._hybrid_keys import decode_private as _decode_private
from qplane.crypto._hybrid_keys import encode_private as _encode_private
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

MLDSA_PUBLIC_KEY_BYTES: Final = 1952
MLDSA_SIGNATURE_BYTES: Final = 3309
ED25519_BYTES: Final = 32
ED25519_SIGNATURE_BYTES: Final = 64
PUBLIC_KEY_BYTES: Final = MLDSA_PUBLIC_KEY_BYTES + ED25519_BYTES
MAX_CONTEXT_BYTES: Final = 255

COMPOSITE_LABEL: Final = "qplane/hybrid-signature/MLDSA65-Ed25519-SHA512/v1"
_KEY_ID_LABEL: Final = "qplane/hybrid-signature/key-id/v1"

_PUBLIC_MAGIC: Final = b"QPSP"
_PRIVATE_MAGIC: Final = b"QPSS"
_SIGNATURE_MAGIC: Final = b"QPSG"
_PUBLIC_PEM: Final = "QPLANE HYBRID SIGNATURE PUBLIC KEY"
_PRIVATE_PEM: Final = "QPLANE HYBRID SIGNATURE PRIVATE KEY"

_SEED_BYTES: Final = 32
_SIGNATURE_HEADER_BYTES: Final = len(_SIGNATURE_MAGIC) + len(_VERSION) + KEY_ID_BYTES
SIGNATURE_BYTES: Final = _SIGNATURE_HEADER_BYTES + MLDSA_SIGNATURE_BYTES + ED25519_SIGNATURE_BYTES


@final
class HybridSignaturePublicKey(HybridPublicKey):
    """A composite verification key ``pk_mldsa (1952) || pk_ed25519 (32)``."""

    __slots__ = ("_ed25519", "_mldsa")
    _MAGIC = _PUBLIC_MAGIC
    _PEM = _PUBLIC_PEM
    _KEY_ID_LABEL = _KEY_ID_LABEL
    _WHAT = "hybrid signature public key"
    _RAW_BYTES = PUBLIC_KEY_BYTES

    def _adopt(self, raw: bytes) -> None:
        try:
            self._mldsa = mldsa.MLDSA65PublicKey.from_public_bytes(raw[:MLDSA_PUBLIC_KEY_BYTES])
            self._ed25519 = ed25519.Ed25519PublicKey.from_public_bytes(raw[MLDSA_PUBLIC_KEY_BYTES:])
        except ValueError:
            raise IntegrityError(
                "hybrid signature public key is malformed: invalid component"
            ) from None


@final
class HybridSignaturePrivateKey:
    """A composite signing key. It never prints, pickles or copies its seeds."""

    __slots__ = ("_ed25519", "_mldsa", "_public", "_seeds")

    def __init__(self, seeds: SecretBytes) -> None:
        """Adopt ``mldsa_seed (32) || ed25519_seed (32)``, the drafts' private-key layout."""
        if len(seeds) != 2 * _SEED_BYTES:
            raise ValueError(f"a composite signing key is {2 * _SEED_BYTES} bytes of seed")
        raw = seeds.reveal()
        self._seeds = seeds
        self._mldsa = mldsa.MLDSA65PrivateKey.from_seed_bytes(raw[:_SEED_BYTES])
        self._ed25519 = ed25519.Ed25519PrivateKey.from_private_bytes(raw[_SEED_BYTES:])
        self._public = HybridSignaturePublicKey(
            self._mldsa.public_key().public_bytes_raw()
            + self._ed25519.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> HybridSignaturePrivateKey:
        """A new key pair; both seeds come from the operating system's CSPRNG."""
        mldsa_seed = mldsa.MLDSA65PrivateKey.generate().private_bytes_raw()
        ed25519_seed = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(SecretBytes(mldsa_seed + ed25519_seed))

    def public_key(self) -> HybridSignaturePublicKey:
        """The matching composite verification key."""
        return self._public

    def to_bytes(self, *, wrapping_key: SecretBytes | None) -> bytes:
        """Serialise both seeds, encrypted under *wrapping_key* unless it is ``None``.

        Same container as `HybridKemPrivateKey.to_bytes`, magic ``"QPSS"``.
        """
        return _encode_private(_PRIVATE_MAGIC, self._public.key_id, self._seeds, wrapping_key)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, wrapping_key: SecretBytes | None = None
    ) -> HybridSignaturePrivateKey:
        """Reverse `to_bytes`.

        Raises `KeyUnavailable` for an encrypted key without *wrapping_key*,
        and `IntegrityError` for a wrong wrapping key, any tampering, or an
        unencrypted key when *wrapping_key* was given (a downgrade).
        """
        what = "hybrid signature private key"
        key_id, seeds = _decode_private(
            _PRIVATE_MAGIC, data, 2 * _SEED_BYTES, wrapping_key, what=what
        )
        key = cls(seeds)
        _check_key_id(key._public.key_id, key_id, what=what)
        return key

    def to_pem(self, *, wrapping_key: SecretBytes | None) -> str:
        """`to_bytes` as base64 text between BEGIN/END lines."""
        return _armor(_PRIVATE_PEM, self.to_bytes(wrapping_key=wrapping_key))

    @classmethod
    def from_pem(
        cls, text: str, *, wrapping_key: SecretBytes | None = None
    ) -> HybridSignaturePrivateKey:
        """Reverse `to_pem`, with the errors of `from_bytes`."""
        data = _dearmor(_PRIVATE_PEM, text, what="hybrid signature private key")
        return cls.from_bytes(data, wrapping_key=wrapping_key)

    def __repr__(self) -> str:
        return (
            f"HybridSignaturePrivateKey(<secret redacted>, key_id={self._public.fingerprint[:16]}…)"
        )

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("private keys cannot be pickled or copied")


def sign(private: HybridSignaturePrivateKey, message: bytes, context: str) -> bytes:
    """Sign *message* for the purpose named by *context*; returns the composite blob."""
    public = private.public_key()
    representative = _representative(public, message, context)
    return (
        _SIGNATURE_MAGIC
        + _VERSION
        + public.key_id
        + private._mldsa.sign(representative, COMPOSITE_LABEL.encode())
        + private._ed25519.sign(representative)
    )


def verify(
    public: HybridSignaturePublicKey, message: bytes, signature: bytes, context: str
) -> None:
    """Return if *signature* is *public*'s over *message* for *context*; else `IntegrityError`.

    Both component signatures are checked, and both must pass.
    """
    representative = _representative(public, message, context)
    _check_key_id(public.key_id, signature_key_id(signature), what="hybrid signature")
    mldsa_at = _SIGNATURE_HEADER_BYTES
    ed25519_at = mldsa_at + MLDSA_SIGNATURE_BYTES
    valid = [
        _verifies(
            public._mldsa.verify,
            signature[mldsa_at:ed25519_at],
            representative,
            COMPOSITE_LABEL.encode(),
        ),
        _verifies(public._ed25519.verify, signature[ed25519_at:], representative),
    ]
    if not all(valid):
        raise IntegrityError(
            "hybrid signature failed to verify: both component signatures must be valid"
        )


def signature_key_id(signature: bytes) -> bytes:
    """The `key_id` of the key that made *signature* (to pick the public key)."""
    _check_header(signature, _SIGNATURE_MAGIC, what="hybrid signature")
    if len(signature) != SIGNATURE_BYTES:
        raise IntegrityError("hybrid signature failed to verify: wrong length")
    return signature[len(_SIGNATURE_MAGIC) + len(_VERSION) : _SIGNATURE_HEADER_BYTES]


def _representative(public: HybridSignaturePublicKey, message: bytes, context: str) -> bytes:
    """``M'``: what both component algorithms actually sign."""
    if not context or len(context.encode("utf-8")) > MAX_CONTEXT_BYTES:
        raise ValueError(f"a signature context is 1 to {MAX_CONTEXT_BYTES} bytes of UTF-8")
    digest = hashes.Hash(hashes.SHA512())
    digest.update(message)
    pk_mldsa, pk_ed25519 = public.raw[:MLDSA_PUBLIC_KEY_BYTES], public.raw[MLDSA_PUBLIC_KEY_BYTES:]
    return encode_aad(COMPOSITE_LABEL, context, pk_mldsa, pk_ed25519, digest.finalize())


def _verifies(check: Callable[..., None], *args: bytes) -> bool:
    """Run a component ``verify`` (which raises `InvalidSignature`) as a predicate."""
    try:
        check(*args)
    except InvalidSignature:
        return False
    return True
