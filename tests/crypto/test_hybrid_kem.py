"""The hybrid KEM (X-Wing) and the sealed box: a specification in examples.

What these tests pin down:

* the KEM is X-Wing byte for byte (the draft's test vector);
* the combined secret needs *both* component secrets: an attacker who has
  broken X25519, or ML-KEM, but not both, cannot reproduce it;
* the combined secret depends on every combiner input;
* a sealed box opens only with the right private key and the same AAD, and
  any other change to it raises `IntegrityError` without revealing secrets;
* keys serialise and load back, encrypted or not, and a private key never
  shows its seed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from qplane.crypto import _primitives
from qplane.crypto import hybrid_kem as hk
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.hybrid_kem import (
    CIPHERTEXT_BYTES,
    MLKEM_CIPHERTEXT_BYTES,
    MLKEM_PUBLIC_KEY_BYTES,
    HybridKemPrivateKey,
    HybridKemPublicKey,
    decapsulate,
    encapsulate,
    xwing_combiner,
)
from qplane.crypto.secret_bytes import SecretBytes
from qplane.domain.errors import IntegrityError

# draft-connolly-cfrg-xwing-kem-08, appendix C, first vector: the
# decapsulation-key seed, SHA3-256 of the encapsulation key (1216 bytes, kept
# short here), the ciphertext and the shared secret.
XWING_SEED = bytes.fromhex("7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26")
XWING_PUBLIC_KEY_SHA3 = "5121745904643ad9dfacca7869292c19a8a69533b53e60666b7db910b4ad6367"
XWING_SHARED_SECRET = bytes.fromhex(
    "d2df0522128f09dd8e2c92b1e905c793d8f57a54c3da25861f10bf4ca613e384"
)
XWING_CIPHERTEXT = bytes.fromhex(
    "b83aa828d4d62b9a83ceffe1d3d3bb1ef31264643c070c5798927e41fb07914a273f8f96e7826cd5375a283d"
    "7da885304c5de0516a0f0654243dc5b97f8bfeb831f68251219aabdd723bc6512041acbaef8af44265524942"
    "b902e68ffd23221cda70b1b55d776a92d1143ea3a0c475f63ee6890157c7116dae3f62bf72f60acd2bb8cc31"
    "ce2ba0de364f52b8ed38c79d719715963a5dd3842d8e8b43ab704e4759b5327bf027c63c8fa857c4908d5a8a"
    "7b88ac7f2be394d93c3706ddd4e698cc6ce370101f4d0213254238b4a2e8821b6e414a1cf20f6c1244b69904"
    "6f5a01caa0a1a55516300b40d2048c77cc73afba79afeea9d2c0118bdf2adb8870dc328c5516cc45b1a20581"
    "41039e2c90a110a9e16b318dfb53bd49a126d6b73f215787517b8917cc01cabd107d06859854ee8b4f9861c2"
    "26d3764c87339ab16c3667d2f49384e55456dd40414b70a6af841585f4c90c68725d57704ee8ee7ce6e2f9be"
    "582dbee985e038ffc346ebfb4e22158b6c84374a9ab4a44e1f91de5aac5197f89bc5e5442f51f9a5937b102b"
    "a3beaebf6e1c58380a4a5fedce4a4e5026f88f528f59ffd2db41752b3a3d90efabe463899b7d40870c530c88"
    "41e8712b733668ed033adbfafb2d49d37a44d4064e5863eb0af0a08d47b3cc888373bc05f7a33b841bc2587c"
    "57eb69554e8a3767b7506917b6b70498727f16eac1a36ec8d8cfaf751549f2277db277e8a55a9a5106b23a02"
    "06b4721fa9b3048552c5bd5b594d6e247f38c18c591aea7f56249c72ce7b117afcc3a8621582f9cf71787e18"
    "3dee09367976e98409ad9217a497df888042384d7707a6b78f5f7fb8409e3b535175373461b776002d799cba"
    "d62860be70573ecbe13b246e0da7e93a52168e0fb6a9756b895ef7f0147a0dc81bfa644b088a9228160c0f9a"
    "cf1379a2941cd28c06ebc80e44e17aa2f8177010afd78a97ce0868d1629ebb294c5151812c583daeb8868522"
    "0f4da9118112e07041fcc24d5564a99fdbde28869fe0722387d7a9a4d16e1cc8555917e09944aa5ebaaaec2c"
    "f62693afad42a3f518fce67d273cc6c9fb5472b380e8573ec7de06a3ba2fd5f931d725b493026cb0acbd3fe6"
    "2d00e4c790d965d7a03a3c0b4222ba8c2a9a16e2ac658f572ae0e746eafc4feba023576f08942278a041fb82"
    "a70a595d5bacbf297ce2029898a71e5c3b0d1c6228b485b1ade509b35fbca7eca97b2132e7cb6bc465375146"
    "b7dceac969308ac0c2ac89e7863eb8943015b24314cafb9c7c0e85fe543d56658c213632599efabfc1ec49dd"
    "8c88547bb2cc40c9d38cbd3099b4547840560531d0188cd1e9c23a0ebee0a03d5577d66b1d2bcb4baaf21cc7"
    "fef1e03806ca96299df0dfbc56e1b2b43e4fc20c37f834c4af62127e7dae86c3c25a2f696ac8b589dec71d59"
    "5bfbe94b5ed4bc07d800b330796fda89edb77be0294136139354eb8cd37591578f9c600dd9be8ec6219fdd50"
    "7adf3397ed4d68707b8d13b24ce4cd8fb22851bfe9d632407f31ed6f7cb1600de56f17576740ce2a32fc5145"
    "030145cfb97e63e0e41d354274a079d3e6fb2e15"
)

AAD = b"qplane/export/v1 tenant=ten_a"
PLAINTEXT = b"OPENQASM 3.0; qubit[2] q; h q[0]; cx q[0], q[1]; // archived for reproducibility"

# Byte ranges of a sealed box (see the module docstring).
BOX_PARTS = {
    "magic": (0, 4),
    "version": (4, 5),
    "key_id": (5, 37),
    "ct_mlkem": (37, 37 + MLKEM_CIPHERTEXT_BYTES),
    "ct_x25519": (37 + MLKEM_CIPHERTEXT_BYTES, 37 + CIPHERTEXT_BYTES),
    "nonce": (37 + CIPHERTEXT_BYTES, 49 + CIPHERTEXT_BYTES),
    "aead_ciphertext": (49 + CIPHERTEXT_BYTES, -16),
    "aead_tag": (-16, None),
}


@pytest.fixture(scope="module")
def recipient() -> HybridKemPrivateKey:
    return HybridKemPrivateKey.generate()


@pytest.fixture(scope="module")
def stranger() -> HybridKemPrivateKey:
    return HybridKemPrivateKey.generate()


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _part(blob: bytes, name: str) -> slice:
    start, end = BOX_PARTS[name]
    return slice(start if start >= 0 else len(blob) + start, len(blob) if end is None else end)


def _replace(blob: bytes, name: str, value: bytes) -> bytes:
    where = _part(blob, name)
    return blob[: where.start] + value + blob[where.stop :]


def _components(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    """X-Wing's key expansion, written independently of the module (hashlib's SHAKE256)."""
    expanded = hashlib.shake_256(seed).digest(96)
    return (
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


# --- The KEM is X-Wing -------------------------------------------------------


def test_key_generation_and_decapsulation_match_the_xwing_test_vector() -> None:
    private = HybridKemPrivateKey(SecretBytes(XWING_SEED))
    assert hashlib.sha3_256(private.public_key().raw).hexdigest() == XWING_PUBLIC_KEY_SHA3
    assert decapsulate(private, XWING_CIPHERTEXT).reveal() == XWING_SHARED_SECRET


def test_encapsulation_round_trips_with_xwing_sizes(recipient: HybridKemPrivateKey) -> None:
    shared, ciphertext = encapsulate(recipient.public_key())
    assert len(shared) == 32
    assert len(ciphertext) == CIPHERTEXT_BYTES == 1120
    assert len(recipient.public_key().raw) == 1216
    assert decapsulate(recipient, ciphertext) == shared


def test_every_encapsulation_is_fresh(recipient: HybridKemPrivateKey) -> None:
    (first, first_ct), (second, second_ct) = (encapsulate(recipient.public_key()) for _ in "ab")
    assert first != second
    assert first_ct[:MLKEM_CIPHERTEXT_BYTES] != second_ct[:MLKEM_CIPHERTEXT_BYTES]
    assert first_ct[MLKEM_CIPHERTEXT_BYTES:] != second_ct[MLKEM_CIPHERTEXT_BYTES:]


def test_the_combiner_is_sha3_256_with_the_xwing_label_last() -> None:
    ss_m, ss_x, ct_x, pk_x = (os.urandom(32) for _ in range(4))
    expected = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + b"\\.//^\\").digest()
    assert xwing_combiner(ss_m, ss_x, ct_x, pk_x).reveal() == expected


@settings(max_examples=200, deadline=None)
@given(
    inputs=st.lists(st.binary(min_size=32, max_size=32), min_size=4, max_size=4),
    which=st.integers(min_value=0, max_value=3),
    replacement=st.binary(min_size=32, max_size=32),
)
def test_the_combined_secret_depends_on_every_input(
    inputs: list[bytes], which: int, replacement: bytes
) -> None:
    changed = list(inputs)
    changed[which] = replacement
    same = changed == inputs
    assert (xwing_combiner(*inputs) == xwing_combiner(*changed)) is same


@pytest.mark.parametrize("which", range(4))
def test_the_combiner_refuses_inputs_that_are_not_32_bytes(which: int) -> None:
    inputs = [bytes(32)] * 4
    inputs[which] = bytes(31)
    with pytest.raises(ValueError, match="32 bytes"):
        xwing_combiner(*inputs)


# --- Breaking one component alone does not reveal the key --------------------


def test_an_attacker_who_broke_x25519_alone_cannot_compute_the_secret() -> None:
    seed = os.urandom(32)
    public = HybridKemPrivateKey(SecretBytes(seed)).public_key()
    shared, ciphertext = encapsulate(public)
    ct_m, ct_x = ciphertext[:MLKEM_CIPHERTEXT_BYTES], ciphertext[MLKEM_CIPHERTEXT_BYTES:]
    pk_x = public.raw[MLKEM_PUBLIC_KEY_BYTES:]
    mlkem_key, x25519_key = _components(seed)
    # The attacker recovers the X25519 secret (say, with a quantum computer).
    ss_x = x25519_key.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    # Control: the attacker's recipe is right, so with ML-KEM's secret too they would win.
    assert xwing_combiner(mlkem_key.decapsulate(ct_m), ss_x, ct_x, pk_x) == shared
    # Without it, no stand-in for ss_M reproduces the key, nor does ss_X itself.
    other_mlkem = mlkem.MLKEM768PrivateKey.generate()
    for guess in (bytes(32), ss_x, os.urandom(32), other_mlkem.decapsulate(ct_m)):
        assert xwing_combiner(guess, ss_x, ct_x, pk_x) != shared
    assert shared.reveal() != ss_x


def test_an_attacker_who_broke_mlkem_alone_cannot_compute_the_secret() -> None:
    seed = os.urandom(32)
    public = HybridKemPrivateKey(SecretBytes(seed)).public_key()
    shared, ciphertext = encapsulate(public)
    ct_m, ct_x = ciphertext[:MLKEM_CIPHERTEXT_BYTES], ciphertext[MLKEM_CIPHERTEXT_BYTES:]
    pk_x = public.raw[MLKEM_PUBLIC_KEY_BYTES:]
    mlkem_key, x25519_key = _components(seed)
    # The attacker recovers the ML-KEM secret (say, through a flaw in ML-KEM).
    ss_m = mlkem_key.decapsulate(ct_m)
    ct_x_key = x25519.X25519PublicKey.from_public_bytes(ct_x)
    # Control: with the X25519 secret too they would win.
    assert xwing_combiner(ss_m, x25519_key.exchange(ct_x_key), ct_x, pk_x) == shared
    # Without it, no stand-in for ss_X works: not zeros, not ss_M, not another
    # Diffie-Hellman with the same ephemeral share.
    other_x25519 = x25519.X25519PrivateKey.generate().exchange(ct_x_key)
    for guess in (bytes(32), ss_m, os.urandom(32), other_x25519):
        assert xwing_combiner(ss_m, guess, ct_x, pk_x) != shared
    assert shared.reveal() != ss_m


def test_a_box_for_one_recipient_is_useless_to_another_who_shares_nothing(
    recipient: HybridKemPrivateKey, stranger: HybridKemPrivateKey
) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    # Even with the key id rewritten to the stranger's, the stranger's keys derive another secret.
    relabelled = _replace(blob, "key_id", stranger.public_key().key_id)
    with pytest.raises(IntegrityError, match="sealed box failed to verify"):
        hk.open(stranger, relabelled, AAD)


# --- The sealed box -----------------------------------------------------------


def test_seal_and_open_round_trip(recipient: HybridKemPrivateKey) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    assert PLAINTEXT not in blob
    assert blob.startswith(b"QPSB\x01")
    assert hk.recipient_key_id(blob) == recipient.public_key().key_id
    assert hk.open(recipient, blob, AAD) == PLAINTEXT


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=256))
def test_any_plaintext_and_aad_round_trip(plaintext: bytes, aad: bytes) -> None:
    recipient = HybridKemPrivateKey(SecretBytes(XWING_SEED))
    assert hk.open(recipient, hk.seal(recipient.public_key(), plaintext, aad), aad) == plaintext


def test_a_large_plaintext_round_trips(recipient: HybridKemPrivateKey) -> None:
    plaintext = bytes(range(256)) * 4096
    assert hk.open(recipient, hk.seal(recipient.public_key(), plaintext, b""), b"") == plaintext


def test_two_seals_of_the_same_plaintext_share_nothing(recipient: HybridKemPrivateKey) -> None:
    first, second = (hk.seal(recipient.public_key(), PLAINTEXT, AAD) for _ in "ab")
    for name in ("ct_mlkem", "ct_x25519", "nonce", "aead_ciphertext"):
        assert first[_part(first, name)] != second[_part(second, name)], name


@pytest.mark.parametrize("name", sorted(BOX_PARTS))
def test_flipping_a_bit_in_any_component_fails(recipient: HybridKemPrivateKey, name: str) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    where = _part(blob, name)
    bits = (where.stop - where.start) * 8
    for bit in sorted({0, bits // 2, bits - 1}):
        with pytest.raises(IntegrityError, match="failed to verify"):
            hk.open(recipient, _flip(blob, where.start * 8 + bit), AAD)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_flipping_any_single_bit_fails(data: st.DataObject) -> None:
    recipient = HybridKemPrivateKey(SecretBytes(XWING_SEED))
    blob = hk.seal(recipient.public_key(), b"short", b"")
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    with pytest.raises(IntegrityError):
        hk.open(recipient, _flip(blob, bit), b"")


@pytest.mark.parametrize(
    "names",
    [
        ("ct_mlkem",),
        ("ct_x25519",),
        ("ct_mlkem", "ct_x25519"),
        ("nonce",),
        ("aead_ciphertext", "aead_tag"),
        ("nonce", "aead_ciphertext", "aead_tag"),
    ],
)
def test_components_swapped_between_two_seals_fail(
    recipient: HybridKemPrivateKey, names: tuple[str, ...]
) -> None:
    first = hk.seal(recipient.public_key(), b"first secret!", AAD)
    second = hk.seal(recipient.public_key(), b"second secret", AAD)
    grafted = first
    for name in names:
        grafted = _replace(grafted, name, second[_part(second, name)])
    with pytest.raises(IntegrityError):
        hk.open(recipient, grafted, AAD)


def test_the_wrong_recipient_cannot_open(
    recipient: HybridKemPrivateKey, stranger: HybridKemPrivateKey
) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    with pytest.raises(IntegrityError, match="belongs to another key"):
        hk.open(stranger, blob, AAD)


@pytest.mark.parametrize("other", [b"", AAD + b"x", AAD[:-1], b"qplane/export/v1 tenant=ten_b"])
def test_the_wrong_aad_fails(recipient: HybridKemPrivateKey, other: bytes) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    with pytest.raises(IntegrityError, match="sealed box failed to verify"):
        hk.open(recipient, blob, other)


def test_every_truncation_and_an_extension_fail(recipient: HybridKemPrivateKey) -> None:
    blob = hk.seal(recipient.public_key(), b"payload", AAD)
    for cut in range(len(blob)):
        with pytest.raises(IntegrityError):
            hk.open(recipient, blob[:cut], AAD)
    with pytest.raises(IntegrityError):
        hk.open(recipient, blob + b"\x00", AAD)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_an_unknown_format_version_fails(recipient: HybridKemPrivateKey, version: int) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    with pytest.raises(IntegrityError, match=f"unsupported format version {version}"):
        hk.open(recipient, blob[:4] + bytes([version]) + blob[5:], AAD)


def test_something_that_is_not_a_sealed_box_fails(recipient: HybridKemPrivateKey) -> None:
    with pytest.raises(IntegrityError, match="not a sealed box"):
        hk.open(recipient, b"QPKP\x01" + bytes(2000), AAD)


def test_failures_reveal_no_secret() -> None:
    seed = os.urandom(32)
    recipient = HybridKemPrivateKey(SecretBytes(seed))
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    kem_ciphertext = blob[_part(blob, "ct_mlkem").start : _part(blob, "nonce").start]
    shared = decapsulate(recipient, kem_ciphertext)
    with pytest.raises(IntegrityError) as caught:
        hk.open(recipient, blob, b"wrong aad")
    message = str(caught.value)
    for secret in (seed, shared.reveal(), PLAINTEXT):
        assert secret.hex() not in message
    assert "OPENQASM" not in message
    assert caught.value.__cause__ is None


def test_a_tampered_x25519_share_of_low_order_fails(recipient: HybridKemPrivateKey) -> None:
    blob = hk.seal(recipient.public_key(), PLAINTEXT, AAD)
    with pytest.raises(IntegrityError, match="invalid X25519 share"):
        hk.open(recipient, _replace(blob, "ct_x25519", bytes(32)), AAD)


@pytest.mark.parametrize("length", [0, CIPHERTEXT_BYTES - 1, CIPHERTEXT_BYTES + 1])
def test_decapsulating_a_malformed_ciphertext_fails(
    recipient: HybridKemPrivateKey, length: int
) -> None:
    with pytest.raises(IntegrityError, match="wrong length"):
        decapsulate(recipient, bytes(length))


# --- Keys ---------------------------------------------------------------------


def test_public_keys_round_trip_as_bytes_and_pem(recipient: HybridKemPrivateKey) -> None:
    public = recipient.public_key()
    assert public.to_bytes().startswith(b"QPKP\x01")
    assert HybridKemPublicKey.from_bytes(public.to_bytes()) == public
    pem = public.to_pem()
    assert pem.startswith("-----BEGIN QPLANE HYBRID KEM PUBLIC KEY-----\n")
    loaded = HybridKemPublicKey.from_pem(pem)
    assert loaded == public
    assert hash(loaded) == hash(public)
    assert loaded.key_id == public.key_id
    assert loaded.fingerprint == public.key_id.hex()
    assert hk.open(recipient, hk.seal(loaded, PLAINTEXT, AAD), AAD) == PLAINTEXT


def test_the_key_id_is_a_labelled_sha3_of_the_public_key(recipient: HybridKemPrivateKey) -> None:
    public = recipient.public_key()
    assert len(public.key_id) == 32
    assert public.key_id != hashlib.sha3_256(public.raw).digest()  # domain-separated
    assert public.key_id != HybridKemPrivateKey.generate().public_key().key_id


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes(1215),
        bytes(1217),
        b"\xff" * 1216,  # ML-KEM coefficients out of range
        HybridKemPrivateKey(SecretBytes(XWING_SEED)).public_key().raw[:1184] + bytes(32),
    ],
    ids=["empty", "short", "long", "bad-mlkem", "low-order-x25519"],
)
def test_malformed_public_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(IntegrityError, match="public key is malformed"):
        HybridKemPublicKey(raw)


def test_a_public_key_with_an_unknown_version_is_refused(recipient: HybridKemPrivateKey) -> None:
    data = recipient.public_key().to_bytes()
    with pytest.raises(IntegrityError, match="unsupported format version 2"):
        HybridKemPublicKey.from_bytes(data[:4] + b"\x02" + data[5:])


def test_private_keys_round_trip_in_the_clear(recipient: HybridKemPrivateKey) -> None:
    data = recipient.to_bytes(wrapping_key=None)
    assert data.startswith(b"QPKS\x01\x00")
    assert len(data) == 4 + 1 + 1 + 32 + 32
    loaded = HybridKemPrivateKey.from_bytes(data)
    assert loaded.public_key() == recipient.public_key()
    pem = recipient.to_pem(wrapping_key=None)
    assert HybridKemPrivateKey.from_pem(pem).public_key() == recipient.public_key()


def test_private_keys_round_trip_encrypted_under_a_wrapping_key() -> None:
    seed = os.urandom(32)
    private = HybridKemPrivateKey(SecretBytes(seed))
    wrapping_key = _primitives.random_key()
    data = private.to_bytes(wrapping_key=wrapping_key)
    assert data.startswith(b"QPKS\x01\x01")
    assert seed not in data
    loaded = HybridKemPrivateKey.from_bytes(data, wrapping_key=wrapping_key)
    assert loaded.public_key() == private.public_key()
    pem = private.to_pem(wrapping_key=wrapping_key)
    loaded = HybridKemPrivateKey.from_pem(pem, wrapping_key=wrapping_key)
    assert hk.open(loaded, hk.seal(private.public_key(), PLAINTEXT, AAD), AAD) == PLAINTEXT


def test_an_encrypted_private_key_needs_the_right_wrapping_key(
    recipient: HybridKemPrivateKey,
) -> None:
    data = recipient.to_bytes(wrapping_key=_primitives.random_key())
    with pytest.raises(KeyUnavailable, match="encrypted"):
        HybridKemPrivateKey.from_bytes(data)
    with pytest.raises(IntegrityError, match="private key failed to verify"):
        HybridKemPrivateKey.from_bytes(data, wrapping_key=_primitives.random_key())


def test_a_clear_private_key_is_refused_where_an_encrypted_one_is_expected(
    recipient: HybridKemPrivateKey,
) -> None:
    data = recipient.to_bytes(wrapping_key=None)
    with pytest.raises(IntegrityError, match="expected an encrypted key"):
        HybridKemPrivateKey.from_bytes(data, wrapping_key=_primitives.random_key())


@pytest.mark.parametrize("wrapped", [False, True])
def test_tampered_private_keys_are_refused(recipient: HybridKemPrivateKey, wrapped: bool) -> None:
    wrapping_key = _primitives.random_key() if wrapped else None
    data = recipient.to_bytes(wrapping_key=wrapping_key)
    for bit in range(0, len(data) * 8, 7):
        with pytest.raises((IntegrityError, KeyUnavailable)):
            HybridKemPrivateKey.from_bytes(_flip(data, bit), wrapping_key=wrapping_key)
    for cut in range(len(data)):
        with pytest.raises((IntegrityError, KeyUnavailable)):
            HybridKemPrivateKey.from_bytes(data[:cut], wrapping_key=wrapping_key)


def test_a_private_key_relabelled_with_another_key_id_is_refused(
    recipient: HybridKemPrivateKey, stranger: HybridKemPrivateKey
) -> None:
    data = recipient.to_bytes(wrapping_key=None)
    relabelled = data[:6] + stranger.public_key().key_id + data[38:]
    with pytest.raises(IntegrityError, match="belongs to another key"):
        HybridKemPrivateKey.from_bytes(relabelled)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN QPLANE HYBRID KEM PRIVATE KEY-----\n!!!\n"
        "-----END QPLANE HYBRID KEM PRIVATE KEY-----",
        HybridKemPrivateKey(SecretBytes(XWING_SEED)).public_key().to_pem(),
    ],
    ids=["empty", "garbage", "bad-base64", "a-public-key"],
)
def test_pem_that_is_not_a_private_key_is_refused(text: str) -> None:
    with pytest.raises(IntegrityError):
        HybridKemPrivateKey.from_pem(text)


def test_a_private_key_never_shows_its_material() -> None:
    seed = os.urandom(32)
    private = HybridKemPrivateKey(SecretBytes(seed))
    expanded = hashlib.shake_256(seed).digest(96)
    for text in (repr(private), str(private), f"{private}", f"{private!r}", format(private, "")):
        assert "redacted" in text
        for secret in (seed, expanded[:64], expanded[64:]):
            assert secret.hex() not in text
            assert repr(secret)[2:-1] not in text
    assert private.public_key().fingerprint[:16] in repr(private)


def test_a_private_key_cannot_be_pickled_or_copied(recipient: HybridKemPrivateKey) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(recipient)
    with pytest.raises(TypeError):
        copy.copy(recipient)
    with pytest.raises(TypeError):
        copy.deepcopy(recipient)


def test_a_seed_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        HybridKemPrivateKey(SecretBytes(bytes(31)))
