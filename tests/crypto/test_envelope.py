"""Envelope encryption: sealed artifacts open only for exactly their binding."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from qplane.crypto import ArtifactBinding, Envelope, KeyProvider, KeyUnavailable
from qplane.domain.errors import IntegrityError
from qplane.domain.ports import SealedArtifact
from tests.crypto.memory_tenant_keys import MemoryTenantKeys

PLAINTEXT = b"OPENQASM 3.0; qubit[2] q; h q[0]; cx q[0], q[1]; // tenant secret"
BINDING = ArtifactBinding(tenant_id="ten_a", project_id="prj_1", job_id="job_1", kind="circuit")


# Another tenant, project, job or kind: each must refuse an artifact sealed for BINDING.
OTHER_PLACES = [
    ("tenant_id", "ten_b"),
    ("project_id", "prj_2"),
    ("job_id", "job_2"),
    ("kind", "result"),
]


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def test_round_trip(envelope: Envelope) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING)
    assert envelope.open(sealed, BINDING) == PLAINTEXT
    assert PLAINTEXT not in sealed.ciphertext


def test_empty_and_large_plaintexts_round_trip(envelope: Envelope) -> None:
    for plaintext in (b"", bytes(range(256)) * 4096):
        assert envelope.open(envelope.seal(plaintext, BINDING), BINDING) == plaintext


@pytest.mark.parametrize(("field", "other"), OTHER_PLACES)
def test_artifact_copied_to_another_binding_fails(
    envelope: Envelope, field: str, other: str
) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING)
    with pytest.raises(IntegrityError):
        envelope.open(sealed, dataclasses.replace(BINDING, **{field: other}))


@pytest.mark.parametrize(("field", "other"), OTHER_PLACES)
def test_wrapped_key_moved_to_another_artifact_fails(
    envelope: Envelope, field: str, other: str
) -> None:
    victim_binding = dataclasses.replace(BINDING, **{field: other})
    victim = envelope.seal(b"victim data", victim_binding)
    attacker = envelope.seal(b"attacker data", BINDING)
    # Graft the victim's wrapped key onto the attacker's ciphertext and back.
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(attacker, wrapped_key=victim.wrapped_key), BINDING)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(victim, wrapped_key=attacker.wrapped_key), victim_binding)


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_key"])
def test_flipping_any_single_bit_fails(envelope: Envelope, part: str) -> None:
    sealed = envelope.seal(b"short payload", BINDING)
    original: bytes = getattr(sealed, part)
    for bit in range(len(original) * 8):
        change: dict[str, Any] = {part: _flip(original, bit)}
        tampered = dataclasses.replace(sealed, **change)
        with pytest.raises(IntegrityError):
            envelope.open(tampered, BINDING)


def test_changing_kek_version_fails(
    provider: KeyProvider, keys: MemoryTenantKeys, envelope: Envelope
) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING)
    provider.create_tenant_key("ten_a", keys)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(sealed, kek_version=2), BINDING)
    with pytest.raises(KeyUnavailable):
        envelope.open(dataclasses.replace(sealed, kek_version=9), BINDING)


def test_truncated_or_extended_ciphertext_fails(envelope: Envelope) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING)
    for ciphertext in (b"", sealed.ciphertext[:-1], sealed.ciphertext + b"\x00"):
        with pytest.raises(IntegrityError):
            envelope.open(dataclasses.replace(sealed, ciphertext=ciphertext), BINDING)


def test_two_seals_of_the_same_plaintext_share_nothing(envelope: Envelope) -> None:
    first, second = envelope.seal(PLAINTEXT, BINDING), envelope.seal(PLAINTEXT, BINDING)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key


def test_rotation_seals_under_new_version_and_old_artifacts_still_open(
    provider: KeyProvider, keys: MemoryTenantKeys, envelope: Envelope
) -> None:
    before = envelope.seal(PLAINTEXT, BINDING)
    provider.create_tenant_key("ten_a", keys)
    after = envelope.seal(PLAINTEXT, BINDING)
    assert (before.kek_version, after.kek_version) == (1, 2)
    assert envelope.open(before, BINDING) == envelope.open(after, BINDING) == PLAINTEXT


def test_tenant_without_key_cannot_seal(envelope: Envelope) -> None:
    with pytest.raises(KeyUnavailable):
        envelope.seal(PLAINTEXT, dataclasses.replace(BINDING, tenant_id="ten_new"))


def test_sealed_repr_and_errors_reveal_no_key_or_plaintext(
    spy: KeyProvider, keys: MemoryTenantKeys
) -> None:
    envelope = Envelope(spy, keys)
    sealed = envelope.seal(PLAINTEXT, BINDING)
    data_key = spy.data_keys[-1].reveal()  # type: ignore[attr-defined]
    secrets = (PLAINTEXT, data_key)
    with pytest.raises(IntegrityError) as caught:
        envelope.open(sealed, dataclasses.replace(BINDING, job_id="job_other"))
    with pytest.raises(IntegrityError) as tampered:
        envelope.open(dataclasses.replace(sealed, ciphertext=_flip(sealed.ciphertext, 0)), BINDING)
    texts = (repr(sealed), str(sealed), str(caught.value), str(tampered.value))
    for text in texts:
        for secret in secrets:
            assert repr(secret) not in text
            assert secret.hex() not in text
            assert secret.decode("latin-1") not in text
        assert "tenant secret" not in text
    assert "failed to verify" in str(tampered.value)
    assert tampered.value.__cause__ is None


def test_binding_aad_is_canonical_and_versioned() -> None:
    left = ArtifactBinding("ten_a", "prj_1b", "job", "circuit")
    right = ArtifactBinding("ten_a", "prj_1", "bjob", "circuit")
    assert left.aad() != right.aad()
    assert BINDING.aad() == ArtifactBinding("ten_a", "prj_1", "job_1", "circuit").aad()
    assert b"qplane/artifact/v1" in BINDING.aad()


def test_binding_refuses_empty_fields() -> None:
    with pytest.raises(ValueError, match="job_id"):
        ArtifactBinding("ten_a", "prj_1", "", "circuit")


def test_sealed_artifact_type_is_the_domain_one(envelope: Envelope) -> None:
    assert isinstance(envelope.seal(PLAINTEXT, BINDING), SealedArtifact)
