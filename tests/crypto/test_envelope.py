"""Envelope encryption: sealed values open only for exactly their binding, ring and KEK version."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from qplane.crypto import (
    ArtifactBinding,
    Envelope,
    KeyUnavailable,
    LocalKeyring,
    _primitives,
)
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.providers import KeyProviders
from qplane.domain.errors import IntegrityError, NotFound
from qplane.domain.keys import KekState, KekVersion, platform_ring, ring_name
from qplane.domain.ports import SealedArtifact, UnitOfWork
from tests.crypto.conftest import LegacyKek, SpyProvider, providers_for
from tests.crypto.memory_key_rings import MemoryKeyRings

PLAINTEXT = b"OPENQASM 3.0; qubit[2] q; h q[0]; cx q[0], q[1]; // tenant secret"
BINDING = ArtifactBinding(tenant_id="ten_a", project_id="prj_1", job_id="job_1", kind="circuit")
RING_A = ring_name("ten_a")
RING_B = ring_name("ten_b")

# Another tenant, project, job or kind: each must refuse a value sealed for BINDING.
OTHER_PLACES = [
    ("tenant_id", "ten_b"),
    ("project_id", "prj_2"),
    ("job_id", "job_2"),
    ("kind", "result"),
]
GRAFTS = [("wrapped_key",), ("wrapped_key", "kek_ring"), ("wrapped_key", "kek_ring", "kek_version")]


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _latest(rings: MemoryKeyRings, ring: str) -> KekVersion:
    kek = rings.latest(ring)
    assert kek is not None
    return kek


# --- binding ------------------------------------------------------------------


def test_round_trip(envelope: Envelope) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    assert (sealed.kek_ring, sealed.kek_version) == (RING_A, 1)
    assert envelope.open(sealed, BINDING) == PLAINTEXT
    assert PLAINTEXT not in sealed.ciphertext


def test_empty_and_large_plaintexts_round_trip(envelope: Envelope) -> None:
    for plaintext in (b"", bytes(range(256)) * 4096):
        assert envelope.open(envelope.seal(plaintext, BINDING, RING_A), BINDING) == plaintext


@pytest.mark.parametrize(("field", "other"), OTHER_PLACES)
def test_value_copied_to_another_binding_fails(envelope: Envelope, field: str, other: str) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    with pytest.raises(IntegrityError):
        envelope.open(sealed, dataclasses.replace(BINDING, **{field: other}))


@pytest.mark.parametrize(("field", "other"), OTHER_PLACES)
def test_wrapped_key_moved_to_another_value_fails(
    envelope: Envelope, field: str, other: str
) -> None:
    victim_binding = dataclasses.replace(BINDING, **{field: other})
    victim = envelope.seal(b"victim data", victim_binding, ring_name(victim_binding.tenant_id))
    attacker = envelope.seal(b"attacker data", BINDING, RING_A)
    # Graft the victim's wrapped key onto the attacker's ciphertext and back, alone or
    # with the ring and version it names.
    for parts in GRAFTS:
        onto_attacker = dataclasses.replace(attacker, **{p: getattr(victim, p) for p in parts})
        onto_victim = dataclasses.replace(victim, **{p: getattr(attacker, p) for p in parts})
        with pytest.raises(IntegrityError):
            envelope.open(onto_attacker, BINDING)
        with pytest.raises(IntegrityError):
            envelope.open(onto_victim, victim_binding)


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_key"])
def test_flipping_any_single_bit_fails(envelope: Envelope, part: str) -> None:
    sealed = envelope.seal(b"short payload", BINDING, RING_A)
    original: bytes = getattr(sealed, part)
    for bit in range(len(original) * 8):
        change: dict[str, Any] = {part: _flip(original, bit)}
        tampered = dataclasses.replace(sealed, **change)
        with pytest.raises(IntegrityError):
            envelope.open(tampered, BINDING)


def test_truncated_or_extended_parts_fail(envelope: Envelope) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    for part in ("ciphertext", "nonce", "wrapped_key"):
        original: bytes = getattr(sealed, part)
        for changed in (b"", original[:-1], original + b"\x00"):
            change: dict[str, Any] = {part: changed}
            with pytest.raises(IntegrityError):
                envelope.open(dataclasses.replace(sealed, **change), BINDING)


def test_two_seals_of_the_same_plaintext_share_nothing(envelope: Envelope) -> None:
    first, second = (envelope.seal(PLAINTEXT, BINDING, RING_A) for _ in range(2))
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key


# --- ring and KEK version -----------------------------------------------------


@pytest.mark.parametrize("other_ring", [ring_name("ten_a", "prj_1"), RING_B])
def test_value_moved_to_another_ring_fails(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork, other_ring: str
) -> None:
    hierarchy.create_ring(uow, "ten_a", "prj_1")
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(sealed, kek_ring=other_ring), BINDING)


@pytest.mark.parametrize("missing", [ring_name("ten_z"), ""])
def test_value_naming_a_missing_ring_is_key_unavailable(envelope: Envelope, missing: str) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    with pytest.raises(KeyUnavailable) as caught:
        envelope.open(dataclasses.replace(sealed, kek_ring=missing), BINDING)
    assert not isinstance(caught.value, NotFound)


def test_sealing_under_a_missing_ring_is_key_unavailable_not_not_found(envelope: Envelope) -> None:
    with pytest.raises(KeyUnavailable) as caught:
        envelope.seal(PLAINTEXT, dataclasses.replace(BINDING, tenant_id="ten_new"), "ten_new/*")
    assert not isinstance(caught.value, NotFound)
    assert (caught.value.slug, caught.value.status) == ("key-unavailable", 503)


def test_ring_without_an_active_version_cannot_seal(
    envelope: Envelope, rings: MemoryKeyRings
) -> None:
    ring = dataclasses.replace(rings.ring_rows[RING_A], name="ten_c/*", tenant_id="ten_c")
    rings.add_ring(ring)
    with pytest.raises(KeyUnavailable, match="no active key version"):
        envelope.seal(PLAINTEXT, dataclasses.replace(BINDING, tenant_id="ten_c"), ring.name)


def test_changing_kek_version_to_another_existing_one_fails(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    v1 = envelope.seal(PLAINTEXT, BINDING, RING_A)
    hierarchy.rotate(uow, RING_A)
    v2 = envelope.seal(PLAINTEXT, BINDING, RING_A)
    assert (v1.kek_version, v2.kek_version) == (1, 2)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(v1, kek_version=2), BINDING)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(v2, kek_version=1), BINDING)


def test_kek_version_that_never_existed_is_integrity_error(envelope: Envelope) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    with pytest.raises(IntegrityError, match="never existed"):
        envelope.open(dataclasses.replace(sealed, kek_version=9), BINDING)


def test_rotation_seals_under_new_version_and_old_values_still_open(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    before = envelope.seal(PLAINTEXT, BINDING, RING_A)
    hierarchy.rotate(uow, RING_A)
    after = envelope.seal(PLAINTEXT, BINDING, RING_A)
    assert (before.kek_version, after.kek_version) == (1, 2)
    assert envelope.open(before, BINDING) == envelope.open(after, BINDING) == PLAINTEXT


def test_version_below_the_ring_minimum_is_refused_as_retired(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    old = envelope.seal(PLAINTEXT, BINDING, RING_A)
    hierarchy.rotate(uow, RING_A)
    hierarchy.retire_below(uow, RING_A, 2)  # nothing stored: the copy in hand is a "backup"
    for replayed in (old, dataclasses.replace(old, kek_version=0)):
        with pytest.raises(IntegrityError, match="retired"):
            envelope.open(replayed, BINDING)
    fresh = envelope.seal(PLAINTEXT, BINDING, RING_A)
    assert envelope.open(fresh, BINDING) == PLAINTEXT


@pytest.mark.parametrize("state", [KekState.RETIRED, KekState.DESTROYED])
def test_erased_version_at_or_above_the_minimum_is_key_unavailable(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork, state: KekState
) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    hierarchy.rotate(uow, RING_A)
    v1 = uow.key_rings.version(RING_A, 1)
    assert v1 is not None
    uow.key_rings.update_version(dataclasses.replace(v1, state=state, material=None))
    with pytest.raises(KeyUnavailable) as caught:
        envelope.open(sealed, BINDING)
    assert not isinstance(caught.value, NotFound)


def test_shredded_ring_is_key_unavailable(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    hierarchy.shred(uow, RING_A)
    with pytest.raises(KeyUnavailable, match="shredded") as caught:
        envelope.open(sealed, BINDING)
    assert not isinstance(caught.value, NotFound)
    with pytest.raises(KeyUnavailable):
        envelope.seal(PLAINTEXT, BINDING, RING_A)
    other = dataclasses.replace(BINDING, tenant_id="ten_b")
    assert envelope.open(envelope.seal(PLAINTEXT, other, RING_B), other) == PLAINTEXT


def test_rewrap_changes_only_the_wrapped_key(
    envelope: Envelope, hierarchy: KeyHierarchy, uow: UnitOfWork, rings: MemoryKeyRings
) -> None:
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    v2 = hierarchy.rotate(uow, RING_A)
    moved = dataclasses.replace(
        sealed, kek_version=2, wrapped_key=envelope.rewrap(sealed, BINDING, v2)
    )
    assert (moved.nonce, moved.ciphertext) == (sealed.nonce, sealed.ciphertext)
    assert envelope.open(moved, BINDING) == envelope.open(sealed, BINDING) == PLAINTEXT
    with pytest.raises(IntegrityError):  # the new wrapping is bound to version 2
        envelope.open(dataclasses.replace(moved, kek_version=1), BINDING)
    with pytest.raises(IntegrityError):  # only the rightful binding can rewrap
        envelope.rewrap(sealed, dataclasses.replace(BINDING, job_id="job_2"), v2)
    assert _latest(rings, RING_A) == v2


# --- secrecy --------------------------------------------------------------------


def test_sealed_repr_and_errors_reveal_no_key_or_plaintext(
    spy: SpyProvider, uow: UnitOfWork
) -> None:
    hierarchy = KeyHierarchy(providers_for(spy))
    hierarchy.create_ring(uow, "ten_a")
    envelope = Envelope(hierarchy.providers, uow.key_rings)
    sealed = envelope.seal(PLAINTEXT, BINDING, RING_A)
    data_key = spy.data_keys[-1].reveal()
    secrets = (PLAINTEXT, data_key)
    with pytest.raises(IntegrityError) as caught:
        envelope.open(sealed, dataclasses.replace(BINDING, job_id="job_other"))
    with pytest.raises(IntegrityError) as tampered:
        envelope.open(dataclasses.replace(sealed, ciphertext=_flip(sealed.ciphertext, 0)), BINDING)
    hierarchy.rotate(uow, RING_A)
    hierarchy.retire_below(uow, RING_A, 2)
    with pytest.raises(IntegrityError) as retired:
        envelope.open(sealed, BINDING)
    hierarchy.shred(uow, RING_A)
    with pytest.raises(KeyUnavailable) as shredded:
        envelope.open(sealed, BINDING)
    texts = [repr(sealed), str(sealed), *(str(e.value) for e in (caught, tampered, retired))]
    texts += [str(shredded.value), *(repr(kek) for kek in uow.key_rings.versions(RING_A))]
    for text in texts:
        for secret in secrets:
            assert repr(secret) not in text
            assert secret.hex() not in text
            assert secret.decode("latin-1") not in text
        assert "tenant secret" not in text
    assert "failed to verify" in str(tampered.value)
    assert tampered.value.__cause__ is None


def test_kek_version_repr_shows_no_material(envelope: Envelope, rings: MemoryKeyRings) -> None:
    kek = _latest(rings, RING_A)
    assert kek.material is not None
    assert kek.material.hex() not in repr(kek)
    assert repr(kek.material) not in repr(kek)


def test_binding_aad_is_canonical_and_versioned() -> None:
    left = ArtifactBinding("ten_a", "prj_1b", "job", "circuit")
    right = ArtifactBinding("ten_a", "prj_1", "bjob", "circuit")
    assert left.aad() != right.aad()
    assert BINDING.aad() == ArtifactBinding("ten_a", "prj_1", "job_1", "circuit").aad()
    assert b"qplane/artifact/v1" in BINDING.aad()


def test_binding_refuses_empty_fields() -> None:
    with pytest.raises(ValueError, match="job_id"):
        ArtifactBinding("ten_a", "prj_1", "", "circuit")


def test_sealed_value_type_is_the_domain_one(envelope: Envelope) -> None:
    assert isinstance(envelope.seal(PLAINTEXT, BINDING, RING_A), SealedArtifact)


# --- keys from before rings (aad_format 1), as the migration left them --------

LEGACY_RINGS = [(RING_A, "ten_a", "ten_a"), (platform_ring("mfa"), None, "platform")]


@pytest.mark.parametrize(("ring", "tenant_id", "owner"), LEGACY_RINGS)
def test_values_sealed_before_rings_still_open(
    uow: UnitOfWork, rings: MemoryKeyRings, ring: str, tenant_id: str | None, owner: str
) -> None:
    legacy = LegacyKek(rings, ring, tenant_id, owner, PLAINTEXT)
    envelope = Envelope(legacy.hierarchy().providers, rings)
    assert envelope.open(legacy.sealed, legacy.binding) == PLAINTEXT
    with pytest.raises(IntegrityError):
        envelope.open(legacy.sealed, dataclasses.replace(legacy.binding, job_id="job_2"))
    with pytest.raises(IntegrityError):
        envelope.open(
            dataclasses.replace(legacy.sealed, wrapped_key=_flip(legacy.sealed.wrapped_key, 99)),
            legacy.binding,
        )


@pytest.mark.parametrize(("ring", "tenant_id", "owner"), LEGACY_RINGS)
def test_legacy_kek_keeps_sealing_until_rotated_then_rewraps_to_the_new_format(
    uow: UnitOfWork, rings: MemoryKeyRings, ring: str, tenant_id: str | None, owner: str
) -> None:
    legacy = LegacyKek(rings, ring, tenant_id, owner, PLAINTEXT)
    hierarchy = legacy.hierarchy()
    envelope = Envelope(hierarchy.providers, rings)
    new_under_legacy = envelope.seal(b"new", legacy.binding, ring)
    assert new_under_legacy.kek_version == 1
    assert envelope.open(new_under_legacy, legacy.binding) == b"new"
    v2 = hierarchy.rotate(uow, ring)
    assert v2.aad_format == 2
    moved = dataclasses.replace(
        legacy.sealed,
        kek_version=2,
        wrapped_key=envelope.rewrap(legacy.sealed, legacy.binding, v2),
    )
    assert moved.ciphertext == legacy.sealed.ciphertext
    assert envelope.open(moved, legacy.binding) == PLAINTEXT


def test_legacy_value_moved_to_another_tenants_legacy_ring_fails(rings: MemoryKeyRings) -> None:
    a = LegacyKek(rings, RING_A, "ten_a", "ten_a", PLAINTEXT)
    b = LegacyKek(rings, RING_B, "ten_b", "ten_b", PLAINTEXT, root=a.root)
    envelope = Envelope(a.hierarchy().providers, rings)
    assert envelope.open(b.sealed, b.binding) == PLAINTEXT
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(a.sealed, kek_ring=RING_B), a.binding)
    with pytest.raises(IntegrityError):
        envelope.open(dataclasses.replace(a.sealed, kek_ring=RING_B), b.binding)


@pytest.mark.parametrize(("ring", "tenant_id", "owner"), LEGACY_RINGS)
def test_legacy_kek_survives_a_root_rotation(
    rings: MemoryKeyRings, ring: str, tenant_id: str | None, owner: str
) -> None:
    legacy = LegacyKek(rings, ring, tenant_id, owner, PLAINTEXT)
    new_root = _primitives.random_key()
    rotating = LocalKeyring.with_roots({1: legacy.root, 2: new_root})
    kek = _latest(rings, ring)
    assert rotating.material_root_version(kek) == 1
    rings.update_version(
        dataclasses.replace(kek, material=rotating.rewrap_material(legacy.ring, kek))
    )
    rewrapped = _latest(rings, ring)
    assert rewrapped.aad_format == 1
    assert rotating.material_root_version(rewrapped) == 2
    envelope = Envelope(KeyProviders(LocalKeyring.with_roots({2: new_root})), rings)
    assert envelope.open(legacy.sealed, legacy.binding) == PLAINTEXT
