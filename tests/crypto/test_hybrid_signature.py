"""Composite ML-DSA-65 + Ed25519 signatures: a specification in examples.

What these tests pin down:

* a signature verifies for exactly the key, message and context it was made
  for, and only when *both* component signatures verify;
* removing, replacing or corrupting either component, or anything else in
  the blob, raises `IntegrityError`;
* an attacker who holds one component's private key (Ed25519 broken by a
  quantum computer, or ML-DSA broken by cryptanalysis) still cannot forge;
* keys serialise and load back, and a private key never shows its seeds.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa
from hypothesis import given, settings
from hypothesis import strategies as st

from qplane.crypto import _primitives
from qplane.crypto import hybrid_signature as hs
from qplane.crypto._aad import encode_aad
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hybrid_kem import HybridKemPrivateKey
from qplane.crypto.hybrid_signature import (
    COMPOSITE_LABEL,
    SIGNATURE_BYTES,
    HybridSignaturePrivateKey,
    HybridSignaturePublicKey,
    sign,
    verify,
)
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

CHECKPOINT = b"audit chain ten_a: entry 4096, head sha256=9f86d081884c7d659a2feaa0c55ad015"
CONTEXT = "qplane/audit-checkpoint/v1"

# Byte ranges of a signature blob (see the module docstring).
PARTS = {
    "magic": (0, 4),
    "version": (4, 5),
    "key_id": (5, 37),
    "mldsa": (37, 37 + 3309),
    "ed25519": (37 + 3309, 37 + 3309 + 64),
}


@pytest.fixture(scope="module")
def signer() -> HybridSignaturePrivateKey:
    return HybridSignaturePrivateKey.generate()


@pytest.fixture(scope="module")
def other_signer() -> HybridSignaturePrivateKey:
    return HybridSignaturePrivateKey.generate()


@pytest.fixture(scope="module")
def signature(signer: HybridSignaturePrivateKey) -> bytes:
    return sign(signer, CHECKPOINT, CONTEXT)


def _part(name: str) -> slice:
    return slice(*PARTS[name])


def _replace(blob: bytes, name: str, value: bytes) -> bytes:
    start, end = PARTS[name]
    return blob[:start] + value + blob[end:]


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _representative(public: HybridSignaturePublicKey, message: bytes, context: str) -> bytes:
    """M' as the module docstring specifies it, computed independently here."""
    return encode_aad(
        COMPOSITE_LABEL,
        context,
        public.raw[:1952],
        public.raw[1952:],
        hashlib.sha512(message).digest(),
    )


# --- Round trips --------------------------------------------------------------


def test_a_signature_verifies_for_its_key_message_and_context(
    signer: HybridSignaturePrivateKey, signature: bytes
) -> None:
    assert len(signature) == SIGNATURE_BYTES == 4 + 1 + 32 + 3309 + 64
    assert signature.startswith(b"QPSG\x01")
    assert hs.signature_key_id(signature) == signer.public_key().key_id
    verify(signer.public_key(), CHECKPOINT, signature, CONTEXT)


def test_both_components_sign_the_documented_message_representative(
    signer: HybridSignaturePrivateKey, signature: bytes
) -> None:
    public = signer.public_key()
    representative = _representative(public, CHECKPOINT, CONTEXT)
    mldsa.MLDSA65PublicKey.from_public_bytes(public.raw[:1952]).verify(
        signature[_part("mldsa")], representative, COMPOSITE_LABEL.encode()
    )
    ed25519.Ed25519PublicKey.from_public_bytes(public.raw[1952:]).verify(
        signature[_part("ed25519")], representative
    )


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=2048))
def test_any_message_round_trips(message: bytes) -> None:
    signer = HybridSignaturePrivateKey(SecretBytes(bytes(range(64))))
    verify(signer.public_key(), message, sign(signer, message, CONTEXT), CONTEXT)


# --- What a signature is bound to ---------------------------------------------


@pytest.mark.parametrize("other", [b"", CHECKPOINT + b" ", CHECKPOINT[:-1], b"another checkpoint"])
def test_another_message_fails(
    signer: HybridSignaturePrivateKey, signature: bytes, other: bytes
) -> None:
    with pytest.raises(IntegrityError, match="both component signatures must be valid"):
        verify(signer.public_key(), other, signature, CONTEXT)


@settings(max_examples=20, deadline=None)
@given(
    signed_for=st.text(min_size=1, max_size=40),
    checked_for=st.text(min_size=1, max_size=40),
)
def test_a_signature_for_one_context_never_verifies_under_another(
    signed_for: str, checked_for: str
) -> None:
    signer = HybridSignaturePrivateKey(SecretBytes(bytes(range(64))))
    blob = sign(signer, CHECKPOINT, signed_for)
    if signed_for == checked_for:
        verify(signer.public_key(), CHECKPOINT, blob, checked_for)
    else:
        with pytest.raises(IntegrityError):
            verify(signer.public_key(), CHECKPOINT, blob, checked_for)


def test_a_result_attestation_is_not_an_audit_checkpoint(
    signer: HybridSignaturePrivateKey,
) -> None:
    blob = sign(signer, CHECKPOINT, "qplane/result-attestation/v1")
    with pytest.raises(IntegrityError):
        verify(signer.public_key(), CHECKPOINT, blob, CONTEXT)


@pytest.mark.parametrize("context", ["", "x" * 256, "é" * 128])
def test_contexts_must_be_1_to_255_bytes(signer: HybridSignaturePrivateKey, context: str) -> None:
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        sign(signer, CHECKPOINT, context)
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        verify(signer.public_key(), CHECKPOINT, bytes(SIGNATURE_BYTES), context)


def test_another_key_fails(other_signer: HybridSignaturePrivateKey, signature: bytes) -> None:
    with pytest.raises(IntegrityError, match="belongs to another key"):
        verify(other_signer.public_key(), CHECKPOINT, signature, CONTEXT)
    # Rewriting the key id does not help: the components are still the first key's.
    relabelled = _replace(signature, "key_id", other_signer.public_key().key_id)
    with pytest.raises(IntegrityError, match="both component signatures must be valid"):
        verify(other_signer.public_key(), CHECKPOINT, relabelled, CONTEXT)


# --- Both components must verify ----------------------------------------------


@pytest.mark.parametrize("component", ["mldsa", "ed25519"])
def test_removing_a_component_fails(
    signer: HybridSignaturePrivateKey, signature: bytes, component: str
) -> None:
    with pytest.raises(IntegrityError, match="wrong length"):
        verify(signer.public_key(), CHECKPOINT, _replace(signature, component, b""), CONTEXT)


@pytest.mark.parametrize("component", ["mldsa", "ed25519"])
def test_zeroing_a_component_fails(
    signer: HybridSignaturePrivateKey, signature: bytes, component: str
) -> None:
    start, end = PARTS[component]
    zeroed = _replace(signature, component, bytes(end - start))
    with pytest.raises(IntegrityError, match="both component signatures must be valid"):
        verify(signer.public_key(), CHECKPOINT, zeroed, CONTEXT)


@pytest.mark.parametrize("component", ["mldsa", "ed25519"])
@pytest.mark.parametrize(
    ("other_message", "other_context"),
    [(b"another checkpoint", CONTEXT), (CHECKPOINT, "qplane/result-attestation/v1")],
    ids=["other-message", "other-context"],
)
def test_a_component_taken_from_another_valid_signature_fails(
    signer: HybridSignaturePrivateKey,
    signature: bytes,
    component: str,
    other_message: bytes,
    other_context: str,
) -> None:
    donor = sign(signer, other_message, other_context)
    mixed = _replace(signature, component, donor[_part(component)])
    with pytest.raises(IntegrityError):
        verify(signer.public_key(), CHECKPOINT, mixed, CONTEXT)


@pytest.mark.parametrize("name", sorted(PARTS))
def test_flipping_a_bit_in_any_part_fails(
    signer: HybridSignaturePrivateKey, signature: bytes, name: str
) -> None:
    start, end = PARTS[name]
    bits = (end - start) * 8
    for bit in sorted({0, 1, bits // 2, bits - 1}):
        with pytest.raises(IntegrityError):
            verify(signer.public_key(), CHECKPOINT, _flip(signature, start * 8 + bit), CONTEXT)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_flipping_any_single_bit_fails(data: st.DataObject) -> None:
    signer = HybridSignaturePrivateKey(SecretBytes(bytes(range(64))))
    blob = sign(signer, CHECKPOINT, CONTEXT)
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    with pytest.raises(IntegrityError):
        verify(signer.public_key(), CHECKPOINT, _flip(blob, bit), CONTEXT)


def test_truncations_and_extensions_fail(
    signer: HybridSignaturePrivateKey, signature: bytes
) -> None:
    for cut in (0, 4, 5, 37, 37 + 3309, len(signature) - 1):
        with pytest.raises(IntegrityError):
            verify(signer.public_key(), CHECKPOINT, signature[:cut], CONTEXT)
    with pytest.raises(IntegrityError, match="wrong length"):
        verify(signer.public_key(), CHECKPOINT, signature + b"\x00", CONTEXT)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_an_unknown_format_version_fails(
    signer: HybridSignaturePrivateKey, signature: bytes, version: int
) -> None:
    blob = signature[:4] + bytes([version]) + signature[5:]
    with pytest.raises(IntegrityError, match=f"unsupported format version {version}"):
        verify(signer.public_key(), CHECKPOINT, blob, CONTEXT)


# --- Breaking one algorithm is not enough to forge ------------------------------


def _forge(
    public: HybridSignaturePublicKey,
    message: bytes,
    genuine: bytes,
    *,
    mldsa_seed: bytes | None,
    ed25519_seed: bytes | None,
) -> bytes:
    """An attacker's signature on *message*: components they can make, the rest from *genuine*."""
    representative = _representative(public, message, CONTEXT)
    forged = genuine
    if mldsa_seed is not None:
        mldsa_key = mldsa.MLDSA65PrivateKey.from_seed_bytes(mldsa_seed)
        forged = _replace(forged, "mldsa", mldsa_key.sign(representative, COMPOSITE_LABEL.encode()))
    if ed25519_seed is not None:
        ed25519_key = ed25519.Ed25519PrivateKey.from_private_bytes(ed25519_seed)
        forged = _replace(forged, "ed25519", ed25519_key.sign(representative))
    return forged


def test_an_attacker_who_broke_one_algorithm_cannot_forge() -> None:
    mldsa_seed, ed25519_seed = os.urandom(32), os.urandom(32)
    signer = HybridSignaturePrivateKey(SecretBytes(mldsa_seed + ed25519_seed))
    public = signer.public_key()
    genuine = sign(signer, CHECKPOINT, CONTEXT)
    forged_message = b"audit chain ten_a: entry 4096, head sha256=0000 (rewritten history)"

    # Control: with both private keys the recipe produces a valid signature.
    both = _forge(public, forged_message, genuine, mldsa_seed=mldsa_seed, ed25519_seed=ed25519_seed)
    verify(public, forged_message, both, CONTEXT)

    # Ed25519 broken (a quantum computer), ML-DSA intact: refused.
    ed25519_only = _forge(
        public, forged_message, genuine, mldsa_seed=None, ed25519_seed=ed25519_seed
    )
    with pytest.raises(IntegrityError):
        verify(public, forged_message, ed25519_only, CONTEXT)

    # ML-DSA broken (cryptanalysis), Ed25519 intact: refused.
    mldsa_only = _forge(public, forged_message, genuine, mldsa_seed=mldsa_seed, ed25519_seed=None)
    with pytest.raises(IntegrityError):
        verify(public, forged_message, mldsa_only, CONTEXT)


def test_a_component_from_a_different_composite_key_fails() -> None:
    # Both public keys are inside M', so even a valid Ed25519 signature by the
    # *same* Ed25519 key under another composite key does not transfer.
    ed25519_seed = os.urandom(32)
    first = HybridSignaturePrivateKey(SecretBytes(os.urandom(32) + ed25519_seed))
    second = HybridSignaturePrivateKey(SecretBytes(os.urandom(32) + ed25519_seed))
    assert first.public_key().raw[1952:] == second.public_key().raw[1952:]
    mixed = _replace(
        sign(first, CHECKPOINT, CONTEXT),
        "ed25519",
        sign(second, CHECKPOINT, CONTEXT)[_part("ed25519")],
    )
    with pytest.raises(IntegrityError, match="both component signatures must be valid"):
        verify(first.public_key(), CHECKPOINT, mixed, CONTEXT)


# --- Keys ---------------------------------------------------------------------


def test_public_keys_round_trip_as_bytes_and_pem(
    signer: HybridSignaturePrivateKey, signature: bytes
) -> None:
    public = signer.public_key()
    assert public.to_bytes().startswith(b"QPSP\x01")
    assert HybridSignaturePublicKey.from_bytes(public.to_bytes()) == public
    pem = public.to_pem()
    assert pem.startswith("-----BEGIN QPLANE HYBRID SIGNATURE PUBLIC KEY-----\n")
    loaded = HybridSignaturePublicKey.from_pem(pem)
    assert loaded == public
    assert hash(loaded) == hash(public)
    assert loaded.fingerprint == public.key_id.hex()
    verify(loaded, CHECKPOINT, signature, CONTEXT)


def test_the_key_id_is_a_labelled_sha3_of_both_public_keys(
    signer: HybridSignaturePrivateKey, other_signer: HybridSignaturePrivateKey
) -> None:
    public = signer.public_key()
    assert len(public.key_id) == 32
    assert public.key_id != hashlib.sha3_256(public.raw).digest()  # domain-separated
    assert public.key_id != other_signer.public_key().key_id


@pytest.mark.parametrize("raw", [b"", bytes(1983), bytes(1985)], ids=["empty", "short", "long"])
def test_malformed_public_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(IntegrityError, match="public key is malformed"):
        HybridSignaturePublicKey(raw)


def test_private_keys_round_trip_in_the_clear_and_encrypted(
    signer: HybridSignaturePrivateKey,
) -> None:
    clear = signer.to_bytes(wrapping_key=None)
    assert clear.startswith(b"QPSS\x01\x00")
    assert HybridSignaturePrivateKey.from_bytes(clear).public_key() == signer.public_key()
    wrapping_key = _primitives.random_key()
    pem = signer.to_pem(wrapping_key=wrapping_key)
    loaded = HybridSignaturePrivateKey.from_pem(pem, wrapping_key=wrapping_key)
    assert loaded.public_key() == signer.public_key()
    verify(signer.public_key(), CHECKPOINT, sign(loaded, CHECKPOINT, CONTEXT), CONTEXT)


def test_an_encrypted_private_key_hides_its_seeds_and_needs_its_wrapping_key() -> None:
    seeds = os.urandom(64)
    signer = HybridSignaturePrivateKey(SecretBytes(seeds))
    wrapping_key = _primitives.random_key()
    data = signer.to_bytes(wrapping_key=wrapping_key)
    assert data.startswith(b"QPSS\x01\x01")
    assert seeds[:32] not in data
    assert seeds[32:] not in data
    with pytest.raises(KeyUnavailable):
        HybridSignaturePrivateKey.from_bytes(data)
    with pytest.raises(IntegrityError):
        HybridSignaturePrivateKey.from_bytes(data, wrapping_key=_primitives.random_key())
    with pytest.raises(IntegrityError):
        HybridSignaturePrivateKey.from_bytes(
            _flip(data, len(data) * 8 - 1), wrapping_key=wrapping_key
        )
    with pytest.raises(IntegrityError, match="expected an encrypted key"):
        HybridSignaturePrivateKey.from_bytes(
            signer.to_bytes(wrapping_key=None), wrapping_key=wrapping_key
        )


def test_a_kem_private_key_is_not_a_signature_private_key() -> None:
    kem_key = HybridKemPrivateKey.generate().to_bytes(wrapping_key=None)
    with pytest.raises(IntegrityError, match="not a hybrid signature private key"):
        HybridSignaturePrivateKey.from_bytes(kem_key)


def test_a_private_key_never_shows_its_material() -> None:
    seeds = os.urandom(64)
    signer = HybridSignaturePrivateKey(SecretBytes(seeds))
    for text in (repr(signer), str(signer), f"{signer}", f"{signer!r}", format(signer, "")):
        assert "redacted" in text
        for secret in (seeds, seeds[:32], seeds[32:]):
            assert secret.hex() not in text
            assert repr(secret)[2:-1] not in text


def test_a_private_key_cannot_be_pickled_or_copied(signer: HybridSignaturePrivateKey) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)


def test_seeds_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        HybridSignaturePrivateKey(SecretBytes(bytes(32)))
