"""The key hierarchy at work: rings, rotation, rewrapping, retirement and crypto-shredding.

Runs on the in-memory stores (`tests.crypto.memory_key_rings`) for every
provider in `PROVIDERS`; the SQL stores have their own contract tests.
"""

from __future__ import annotations

import contextlib

import pytest

from qplane.crypto import ArtifactBinding, KeyProvider, KeyUnavailable, LocalKeyring, _primitives
from qplane.crypto._aad import encode_aad
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.providers import CUSTOMER_MANAGED, KeyProviders
from qplane.domain.errors import Conflict, IntegrityError, NotFound
from qplane.domain.keys import KekState, KeyRing, RingState, ring_name
from qplane.domain.ports import SealedArtifact, UnitOfWork
from tests.crypto.conftest import SpyProvider, providers_for
from tests.crypto.memory_key_rings import MemorySealedStore, MemoryUnitOfWork

RING_A = ring_name("ten_a")
RING_B = ring_name("ten_b")
PLAINTEXT = b"measurement counts of ten_a's job: {'00': 512, '11': 512}"


def _binding(job: int, tenant: str = "ten_a") -> ArtifactBinding:
    return ArtifactBinding(tenant, "prj_1", f"job_{job}", "result")


def _store_values(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork, ring: str, count: int
) -> None:
    """*count* values of *ring*'s tenant, spread over the three sealed stores."""
    tenant = ring.split("/")[0]
    for job in range(count):
        store = memory.sealed_stores()[job % 3]
        binding = _binding(job, tenant)
        sealed = hierarchy.seal(uow, PLAINTEXT, binding, ring=ring)
        store.put((tenant, str(job)), binding, sealed)


def _stored(memory: MemoryUnitOfWork) -> list[tuple[MemorySealedStore, tuple[str, ...]]]:
    return [(store, ref) for store in memory.sealed_stores() for ref in store.rows]


def _open_all(hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork) -> None:
    for store in memory.sealed_stores():
        for binding, sealed in store.rows.values():
            assert hierarchy.open(uow, sealed, ArtifactBinding(*binding)) == PLAINTEXT


# --- rings --------------------------------------------------------------------


def test_new_ring_has_one_active_version_in_the_default_provider(
    hierarchy: KeyHierarchy, uow: UnitOfWork, provider: KeyProvider
) -> None:
    ring = hierarchy.create_ring(uow, "ten_a")
    assert (ring.name, ring.tenant_id, ring.project_id) == (RING_A, "ten_a", None)
    assert (ring.provider, ring.min_decrypt_version, ring.state) == (
        provider.name,
        1,
        RingState.ACTIVE,
    )
    [kek] = uow.key_rings.versions(RING_A)
    assert (kek.version, kek.state, kek.provider, kek.aad_format) == (
        1,
        KekState.ACTIVE,
        provider.name,
        2,
    )
    assert kek.material
    with pytest.raises(Conflict):
        hierarchy.create_ring(uow, "ten_a")


def test_project_ring_is_used_once_it_exists(hierarchy: KeyHierarchy, uow: UnitOfWork) -> None:
    hierarchy.create_ring(uow, "ten_a")
    binding = _binding(1)
    assert hierarchy.ring_for(uow, "ten_a", "prj_1") == RING_A
    before = hierarchy.seal(uow, PLAINTEXT, binding, project_id="prj_1")
    assert before.kek_ring == RING_A
    project = hierarchy.create_ring(uow, "ten_a", "prj_1")
    assert project.name == "ten_a/prj_1"
    assert hierarchy.ring_for(uow, "ten_a", "prj_1") == "ten_a/prj_1"
    assert hierarchy.ring_for(uow, "ten_a", "prj_2") == RING_A
    assert hierarchy.ring_for(uow, "ten_a") == RING_A
    after = hierarchy.seal(uow, PLAINTEXT, binding, project_id="prj_1")
    assert after.kek_ring == "ten_a/prj_1"
    explicit = hierarchy.seal(uow, PLAINTEXT, binding, ring=RING_A, project_id="prj_1")
    assert explicit.kek_ring == RING_A
    for sealed in (before, after, explicit):
        assert hierarchy.open(uow, sealed, binding) == PLAINTEXT


def test_rings_of_another_environment_have_names_of_their_own(
    provider: KeyProvider, uow: UnitOfWork
) -> None:
    staging = KeyHierarchy(providers_for(provider), environment="staging")
    ring = staging.create_ring(uow, "ten_a", "prj_1")
    assert (ring.name, ring.environment) == ("ten_a/prj_1@staging", "staging")
    assert staging.ring_for(uow, "ten_a", "prj_1") == "ten_a/prj_1@staging"
    assert staging.ring_for(uow, "ten_a") == "ten_a/*@staging"


def test_platform_ring_is_created_on_first_use(hierarchy: KeyHierarchy, uow: UnitOfWork) -> None:
    assert uow.key_rings.ring("platform/mfa") is None
    assert hierarchy.platform_ring(uow, "mfa") == "platform/mfa"
    assert hierarchy.platform_ring(uow, "mfa") == "platform/mfa"
    ring = uow.key_rings.ring("platform/mfa")
    assert ring is not None
    assert (ring.tenant_id, ring.project_id) == (None, None)
    assert [kek.version for kek in uow.key_rings.versions("platform/mfa")] == [1]
    assert [r.name for r in uow.key_rings.rings(None)] == ["platform/mfa"]
    binding = ArtifactBinding("platform", "mfa", "prn_operator", "totp-secret")
    sealed = hierarchy.seal(uow, b"JBSWY3DPEHPK3PXP", binding, ring="platform/mfa")
    assert hierarchy.open(uow, sealed, binding) == b"JBSWY3DPEHPK3PXP"


def test_failed_open_names_what_the_value_was_sealed_for(
    hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    sealed = hierarchy.seal(uow, PLAINTEXT, _binding(1))
    with pytest.raises(IntegrityError) as caught:
        hierarchy.open(uow, sealed, _binding(2))
    assert caught.value.sealed_for == ("ten_a", "job_2", "result")


def test_unknown_ring_is_not_found_for_management(hierarchy: KeyHierarchy, uow: UnitOfWork) -> None:
    for manage in (
        lambda: hierarchy.rotate(uow, "ten_z/*"),
        lambda: hierarchy.rewrap(uow, "ten_z/*"),
        lambda: hierarchy.retire_below(uow, "ten_z/*", 1),
        lambda: hierarchy.shred(uow, "ten_z/*"),
    ):
        with pytest.raises(NotFound):
            manage()
    assert hierarchy.pending_rewrap(uow, "ten_z/*") == 0


# --- rotation and rewrapping ------------------------------------------------------


def test_rotation_creates_the_next_version_and_new_seals_use_it_at_once(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 3)
    v2 = hierarchy.rotate(uow, RING_A)
    assert (v2.ring, v2.version, v2.state) == (RING_A, 2, KekState.ACTIVE)
    assert uow.key_rings.latest(RING_A) == v2
    assert hierarchy.seal(uow, PLAINTEXT, _binding(9)).kek_version == 2
    assert hierarchy.rotate(uow, RING_A).version == 3
    assert [k.version for k in uow.key_rings.versions(RING_A)] == [1, 2, 3]
    assert memory.key_rings.rotated() == [RING_A]
    _open_all(hierarchy, uow, memory)


def test_rewrap_moves_data_keys_to_the_newest_version_without_touching_payloads(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 5)
    hierarchy.rotate(uow, RING_A)
    before = {(id(s), ref): s.rows[ref][1] for s, ref in _stored(memory)}
    assert hierarchy.pending_rewrap(uow, RING_A) == 5
    assert hierarchy.rewrap(uow, RING_A) == 5
    assert hierarchy.pending_rewrap(uow, RING_A) == 0
    assert hierarchy.rewrap(uow, RING_A) == 0
    for store, ref in _stored(memory):
        old, new = before[(id(store), ref)], store.rows[ref][1]
        assert (new.kek_ring, new.kek_version) == (RING_A, 2)
        assert (new.nonce, new.ciphertext) == (old.nonce, old.ciphertext)
        assert new.wrapped_key != old.wrapped_key
    _open_all(hierarchy, uow, memory)


def test_rewrap_honours_its_limit_across_stores(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 7)
    hierarchy.rotate(uow, RING_A)
    moved = [hierarchy.rewrap(uow, RING_A, limit=3) for _ in range(4)]
    assert moved == [3, 3, 1, 0]
    assert hierarchy.pending_rewrap(uow, RING_A) == 0
    _open_all(hierarchy, uow, memory)


def test_rewrap_and_pending_count_only_the_named_ring(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    for tenant in ("ten_a", "ten_b"):
        hierarchy.create_ring(uow, tenant)
    _store_values(hierarchy, uow, memory, RING_A, 2)
    _store_values(hierarchy, uow, memory, RING_B, 3)
    hierarchy.rotate(uow, RING_A)
    hierarchy.rotate(uow, RING_B)
    assert (hierarchy.pending_rewrap(uow, RING_A), hierarchy.pending_rewrap(uow, RING_B)) == (2, 3)
    assert hierarchy.rewrap(uow, RING_A) == 2
    assert (hierarchy.pending_rewrap(uow, RING_A), hierarchy.pending_rewrap(uow, RING_B)) == (0, 3)
    untouched = [s.rows[r][1] for s, r in _stored(memory) if s.rows[r][1].kek_ring == RING_B]
    assert [sealed.kek_version for sealed in untouched] == [1, 1, 1]


# --- retirement ---------------------------------------------------------------------


def test_retiring_is_refused_while_values_remain_under_older_versions(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 4)
    hierarchy.rotate(uow, RING_A)
    with pytest.raises(Conflict, match="rewrap") as caught:
        hierarchy.retire_below(uow, RING_A, 2)
    assert caught.value.extensions["pending"] == 4
    v1 = uow.key_rings.version(RING_A, 1)
    assert v1 is not None
    assert (v1.state, v1.material is not None) == (KekState.ACTIVE, True)
    _open_all(hierarchy, uow, memory)


@pytest.mark.parametrize("version", [0, 3])
def test_retiring_needs_an_existing_version(
    hierarchy: KeyHierarchy, uow: UnitOfWork, version: int
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.rotate(uow, RING_A)
    with pytest.raises(Conflict):
        hierarchy.retire_below(uow, RING_A, version)


def test_retiring_after_rewrap_erases_older_versions_and_refuses_replays(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 3)
    backup = [(ArtifactBinding(*b), sealed) for b, sealed in memory.artifacts.rows.values()]
    hierarchy.rotate(uow, RING_A)
    hierarchy.rotate(uow, RING_A)
    hierarchy.rewrap(uow, RING_A)
    assert hierarchy.retire_below(uow, RING_A, 3) == [1, 2]
    ring = uow.key_rings.ring(RING_A)
    assert ring is not None
    assert ring.min_decrypt_version == 3
    for kek in uow.key_rings.versions(RING_A):
        retired = kek.version < 3
        assert kek.state is (KekState.RETIRED if retired else KekState.ACTIVE)
        assert (kek.material is None) is retired
        assert (kek.retired_at is not None) is retired
    _open_all(hierarchy, uow, memory)
    for binding, replayed in backup:
        with pytest.raises(IntegrityError, match="retired"):
            hierarchy.open(uow, replayed, binding)
    assert hierarchy.retire_below(uow, RING_A, 3) == []


def test_retiring_destroys_the_keks_in_their_provider(
    provider: KeyProvider, uow: UnitOfWork
) -> None:
    spy = SpyProvider(provider, name="spy")
    hierarchy = KeyHierarchy(providers_for(spy))
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.rotate(uow, RING_A)
    hierarchy.rotate(uow, RING_A)
    hierarchy.retire_below(uow, RING_A, 3)
    assert sorted(spy.destroyed) == [(RING_A, 1), (RING_A, 2)]


def test_retiring_never_lowers_the_minimum_decryption_version(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    # A replayed old wrapping must keep failing as tampering (IntegrityError, audited),
    # not turn into "key unavailable" because someone retired below a lower version.
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 1)
    [(binding, replayed)] = memory.artifacts.rows.values()
    hierarchy.rotate(uow, RING_A)
    hierarchy.rotate(uow, RING_A)
    hierarchy.rewrap(uow, RING_A)
    hierarchy.retire_below(uow, RING_A, 3)
    with contextlib.suppress(Conflict):
        hierarchy.retire_below(uow, RING_A, 1)
    ring = uow.key_rings.ring(RING_A)
    assert ring is not None
    assert ring.min_decrypt_version == 3
    with pytest.raises(IntegrityError, match="retired"):
        hierarchy.open(uow, replayed, ArtifactBinding(*binding))


# --- crypto-shredding -----------------------------------------------------------------


def test_shred_destroys_every_version_and_nothing_opens_again(
    hierarchy: KeyHierarchy, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    for tenant in ("ten_a", "ten_b"):
        hierarchy.create_ring(uow, tenant)
    _store_values(hierarchy, uow, memory, RING_A, 4)
    hierarchy.rotate(uow, RING_A)
    _store_values(hierarchy, uow, memory, RING_B, 2)
    evidence = hierarchy.shred(uow, RING_A)
    assert (evidence.ring, evidence.versions, evidence.sealed_values) == (RING_A, (1, 2), 4)
    ring = uow.key_rings.ring(RING_A)
    assert ring is not None
    assert (ring.state, ring.shredded_at) == (RingState.SHREDDED, evidence.at)
    for kek in uow.key_rings.versions(RING_A):
        assert (kek.state, kek.material, kek.retired_at) == (KekState.DESTROYED, None, evidence.at)
    for store in memory.sealed_stores():
        for binding, sealed in store.rows.values():
            if sealed.kek_ring == RING_A:
                with pytest.raises(KeyUnavailable):
                    hierarchy.open(uow, sealed, ArtifactBinding(*binding))
            else:
                assert hierarchy.open(uow, sealed, ArtifactBinding(*binding)) == PLAINTEXT


def test_shredded_ring_can_neither_seal_nor_be_managed(
    hierarchy: KeyHierarchy, uow: UnitOfWork
) -> None:
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.shred(uow, RING_A)
    assert hierarchy.pending_rewrap(uow, RING_A) == 0
    for use in (
        lambda: hierarchy.seal(uow, PLAINTEXT, _binding(1)),
        lambda: hierarchy.rotate(uow, RING_A),
        lambda: hierarchy.rewrap(uow, RING_A),
        lambda: hierarchy.retire_below(uow, RING_A, 1),
        lambda: hierarchy.shred(uow, RING_A),
    ):
        with pytest.raises(KeyUnavailable) as caught:
            use()
        assert not isinstance(caught.value, NotFound)


def test_shred_destroys_the_keks_in_their_provider(provider: KeyProvider, uow: UnitOfWork) -> None:
    spy = SpyProvider(provider, name="spy")
    hierarchy = KeyHierarchy(providers_for(spy))
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.rotate(uow, RING_A)
    hierarchy.rotate(uow, RING_A)
    hierarchy.rewrap(uow, RING_A)
    hierarchy.retire_below(uow, RING_A, 3)
    spy.destroyed.clear()
    hierarchy.shred(uow, RING_A)
    assert spy.destroyed == [(RING_A, 3)]  # retired versions were destroyed already


def test_nothing_left_in_the_store_recovers_a_shredded_value(
    uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    root = _primitives.random_key()
    hierarchy = KeyHierarchy(KeyProviders(LocalKeyring(root)))
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.rotate(uow, RING_A)
    _store_values(hierarchy, uow, memory, RING_A, 3)
    evidence = hierarchy.shred(uow, RING_A)
    assert [kek.material for kek in memory.key_rings.version_rows.values()] == [None, None]
    assert root.reveal().hex() not in repr(evidence)
    # Neither the root key nor any 32 bytes the store still holds is a KEK of a value.
    values = _all_values(memory)
    stored = b"".join(s.wrapped_key + s.nonce + s.ciphertext for _, s in values)
    candidates = [root] + [
        _primitives.key_from_bytes(stored[i : i + 32]) for i in range(len(stored) - 31)
    ]
    for binding, sealed in values:
        aad = encode_aad("qplane/data-key/v2", RING_A, sealed.kek_version, binding.aad())
        for key in candidates:
            with pytest.raises(IntegrityError):
                _primitives.unwrap_key(key, sealed.wrapped_key, aad, what="wrapped data key")
    for kek in memory.key_rings.versions(RING_A):  # nor the platform's keyring, with its root
        with pytest.raises(KeyUnavailable):
            LocalKeyring(root).unwrap(_ring(memory, RING_A), kek, values[0][1].wrapped_key, b"")


def _all_values(memory: MemoryUnitOfWork) -> list[tuple[ArtifactBinding, SealedArtifact]]:
    return [
        (ArtifactBinding(*binding), sealed)
        for store in memory.sealed_stores()
        for binding, sealed in store.rows.values()
    ]


def _ring(memory: MemoryUnitOfWork, name: str) -> KeyRing:
    ring = memory.key_rings.ring(name)
    assert ring is not None
    return ring


# --- moving a ring to another provider ------------------------------------------------


def _with_hsm(provider: KeyProvider) -> tuple[KeyHierarchy, SpyProvider]:
    hsm = SpyProvider(LocalKeyring(_primitives.random_key()), name="hsm")
    return KeyHierarchy(providers_for(provider, hsm)), hsm


def test_rotating_to_another_provider_records_it_on_the_new_version(
    provider: KeyProvider, uow: UnitOfWork, memory: MemoryUnitOfWork
) -> None:
    hierarchy, hsm = _with_hsm(provider)
    hierarchy.create_ring(uow, "ten_a")
    _store_values(hierarchy, uow, memory, RING_A, 3)
    v2 = hierarchy.rotate(uow, RING_A, provider="hsm", provider_config="label=ten_a")
    assert (v2.version, v2.provider, v2.provider_config) == (2, "hsm", "label=ten_a")
    ring = _ring(memory, RING_A)
    assert (ring.provider, ring.provider_config) == ("hsm", "label=ten_a")
    v1 = uow.key_rings.version(RING_A, 1)
    assert v1 is not None
    assert v1.provider == provider.name  # the old version stays where it was
    hsm.data_keys.clear()
    assert hierarchy.seal(uow, PLAINTEXT, _binding(9)).kek_version == 2
    assert len(hsm.data_keys) == 1
    _open_all(hierarchy, uow, memory)  # version 1 values, through their own provider
    assert hierarchy.rotate(uow, RING_A).provider == "hsm"  # later versions follow the ring
    assert hierarchy.rewrap(uow, RING_A) == 3
    hierarchy.retire_below(uow, RING_A, 3)
    _open_all(hierarchy, uow, memory)


def test_customer_managed_provider_gets_the_version_config(
    provider: KeyProvider, uow: UnitOfWork
) -> None:
    token = SpyProvider(LocalKeyring(_primitives.random_key()), name=CUSTOMER_MANAGED)
    asked: list[str] = []

    def customer_managed(ring: KeyRing) -> SpyProvider:
        asked.append(ring.provider_config)
        return token

    providers = providers_for(provider, customer_managed=customer_managed)
    hierarchy = KeyHierarchy(providers)
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.rotate(uow, RING_A, provider=CUSTOMER_MANAGED, provider_config="token=acme")
    sealed = hierarchy.seal(uow, PLAINTEXT, _binding(1))
    assert hierarchy.open(uow, sealed, _binding(1)) == PLAINTEXT
    assert set(asked) == {"token=acme"}


def test_unconfigured_providers_are_key_unavailable(provider: KeyProvider, uow: UnitOfWork) -> None:
    hierarchy = KeyHierarchy(providers_for(provider))
    hierarchy.create_ring(uow, "ten_a")
    for name in (CUSTOMER_MANAGED, "kms"):
        with pytest.raises(KeyUnavailable):
            hierarchy.rotate(uow, RING_A, provider=name)
    with pytest.raises(KeyUnavailable):
        KeyProviders(LocalKeyring(_primitives.random_key()), default="pkcs11")
    with pytest.raises(KeyUnavailable):
        hierarchy.providers.named("kms")


def test_rings_are_listed_per_owner(hierarchy: KeyHierarchy, uow: UnitOfWork) -> None:
    hierarchy.create_ring(uow, "ten_a")
    hierarchy.create_ring(uow, "ten_a", "prj_1")
    hierarchy.create_ring(uow, "ten_b")
    hierarchy.platform_ring(uow, "mfa")
    assert [r.name for r in uow.key_rings.rings("ten_a")] == [RING_A, "ten_a/prj_1"]
    assert [r.name for r in uow.key_rings.all_rings()] == [
        "platform/mfa",
        RING_A,
        "ten_a/prj_1",
        RING_B,
    ]
