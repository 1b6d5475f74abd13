"""Rotating the local root key over a real database: every KEK moves, payloads stay put."""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from qplane.config import Settings
from qplane.crypto import ArtifactBinding, KeyUnavailable, LocalKeyring, load_or_create_root_key
from qplane.crypto._primitives import random_key
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.keyring import LOCAL, root_key_path, root_versions
from qplane.crypto.root_rotation import rotate_root
from qplane.domain.errors import IntegrityError
from qplane.domain.keys import KekVersion, KeyRing, ring_name
from qplane.domain.ports import SealedArtifact, UnitOfWork
from qplane.store import Database
from tests.crypto.conftest import LegacyKek, SpyProvider, providers_for
from tests.store.conftest import new_side

PLAINTEXT = b"OPENQASM 3.0; qubit q; measure q; // acme's circuit"


@dataclass
class Sealed:
    """Values sealed under every local ring, held here as a backup would hold them."""

    settings: Settings
    values: list[tuple[SealedArtifact, ArtifactBinding]]

    @property
    def key_dir(self) -> Path:
        return self.settings.key_dir


def _hierarchy(keyring: LocalKeyring, *others: SpyProvider) -> KeyHierarchy:
    return KeyHierarchy(providers_for(keyring, *others))


def _seal_everywhere(
    database: Database, hierarchy: KeyHierarchy, tenant: str
) -> list[tuple[SealedArtifact, ArtifactBinding]]:
    """The tenant's ring (rotated once), a project's and the platform's; values under each."""
    project = "prj_rotation"
    bindings = [ArtifactBinding(tenant, project, f"job_{n}", "circuit") for n in range(3)]
    platform = ArtifactBinding("platform", "mfa", "prn_operator", "totp-secret")
    with database.unit_of_work() as uow:
        hierarchy.create_ring(uow, tenant)
        values = [(hierarchy.seal(uow, PLAINTEXT, bindings[0]), bindings[0])]  # version 1
        hierarchy.rotate(uow, ring_name(tenant))
        hierarchy.create_ring(uow, tenant, project)
        mfa = hierarchy.platform_ring(uow, "mfa")
        uow.commit()
        values.append((hierarchy.seal(uow, PLAINTEXT, bindings[1]), bindings[1]))
        project_value = hierarchy.seal(uow, PLAINTEXT, bindings[2], project_id=project)
        values.append((project_value, bindings[2]))
        values.append((hierarchy.seal(uow, PLAINTEXT, platform, ring=mfa), platform))
    assert [v.kek_ring for v, _ in values] == [
        ring_name(tenant),
        ring_name(tenant),
        ring_name(tenant, project),
        mfa,
    ]
    assert [v.kek_version for v, _ in values] == [1, 2, 1, 1]
    return values


@pytest.fixture
def sealed(database: Database, tmp_path: Path) -> Sealed:
    settings = Settings(data_dir=tmp_path)
    tenant = new_side(database, "acme").tenant.id
    hierarchy = _hierarchy(LocalKeyring.from_settings(settings))
    return Sealed(settings, _seal_everywhere(database, hierarchy, tenant))


def _local_versions(database: Database) -> list[tuple[KeyRing, KekVersion]]:
    with database.unit_of_work() as uow:
        return [
            (ring, kek)
            for ring in uow.key_rings.all_rings()
            for kek in uow.key_rings.versions(ring.name)
            if kek.provider == LOCAL
        ]


def _open_all(database: Database, keyring: LocalKeyring, sealed: Sealed) -> None:
    hierarchy = _hierarchy(keyring)
    with database.unit_of_work() as uow:
        for value, binding in sealed.values:
            assert hierarchy.open(uow, value, binding) == PLAINTEXT


def _each_fails(
    database: Database, keyring: LocalKeyring, sealed: Sealed, error: type[Exception]
) -> None:
    hierarchy = _hierarchy(keyring)
    with database.unit_of_work() as uow:
        for value, binding in sealed.values:
            with pytest.raises(error):
                hierarchy.open(uow, value, binding)


def test_rotation_writes_a_private_new_root_and_rewraps_every_local_kek(
    database: Database, sealed: Sealed
) -> None:
    before = {(r.name, k.version): k.material for r, k in _local_versions(database)}
    assert len(before) == 4
    done = rotate_root(database.unit_of_work, sealed.key_dir)
    assert (done.new_version, done.rewrapped, done.deleted_versions) == (2, 4, ())
    new_root = root_key_path(sealed.key_dir, 2)
    assert new_root.name == "root-2.key"
    assert stat.S_IMODE(new_root.stat().st_mode) == 0o600
    assert root_versions(sealed.key_dir) == [1, 2]
    fresh = LocalKeyring.from_settings(sealed.settings)
    assert fresh.root_version == 2
    for ring, kek in _local_versions(database):
        assert fresh.material_root_version(kek) == 2
        assert kek.material != before[(ring.name, kek.version)]
    _open_all(database, fresh, sealed)


def test_rotating_again_moves_everything_to_the_next_root(
    database: Database, sealed: Sealed
) -> None:
    rotate_root(database.unit_of_work, sealed.key_dir)
    done = rotate_root(database.unit_of_work, sealed.key_dir)
    assert (done.new_version, done.rewrapped) == (3, 4)
    fresh = LocalKeyring.from_settings(sealed.settings)
    assert {fresh.material_root_version(k) for _, k in _local_versions(database)} == {3}
    _open_all(database, fresh, sealed)


def test_after_deleting_the_old_root_a_copy_of_it_opens_nothing(
    database: Database, sealed: Sealed
) -> None:
    old_root = load_or_create_root_key(root_key_path(sealed.key_dir, 1))
    done = rotate_root(database.unit_of_work, sealed.key_dir, delete_old=True)
    assert (done.new_version, done.deleted_versions) == (2, (1,))
    assert not root_key_path(sealed.key_dir, 1).exists()
    assert root_versions(sealed.key_dir) == [2]
    _open_all(database, LocalKeyring.from_settings(sealed.settings), sealed)
    assert not root_key_path(sealed.key_dir, 1).exists()  # loading did not recreate it
    _each_fails(database, LocalKeyring(old_root), sealed, KeyUnavailable)
    # Even material relabelled as "under root 1" does not unwrap with the old root.
    old = LocalKeyring(old_root)
    for ring, kek in _local_versions(database):
        assert kek.material is not None
        relabelled = replace(kek, material=struct.pack(">I", 1) + kek.material[4:])
        with pytest.raises(IntegrityError):
            old.wrap(ring, relabelled, random_key(), b"")


def test_a_running_keyring_keeps_working_across_the_rotation(
    database: Database, sealed: Sealed
) -> None:
    running = LocalKeyring.from_settings(sealed.settings)
    assert running.root_version == 1
    rotate_root(database.unit_of_work, sealed.key_dir, delete_old=True)
    _open_all(database, running, sealed)  # picks up root-2.key when a KEK needs it
    hierarchy = _hierarchy(running)
    with database.unit_of_work() as uow:
        kek = hierarchy.rotate(uow, ring_name(sealed.values[0][1].tenant_id))
        uow.commit()
    assert running.material_root_version(kek) == 2


def test_a_running_keyring_creates_new_keks_under_the_new_root_at_once(
    database: Database, sealed: Sealed
) -> None:
    running = LocalKeyring.from_settings(sealed.settings)
    rotate_root(database.unit_of_work, sealed.key_dir)
    with database.unit_of_work() as uow:
        ring = _hierarchy(running).platform_ring(uow, "audit")
        [kek] = uow.key_rings.versions(ring)
        uow.commit()
    assert running.material_root_version(kek) == 2


def test_keks_of_other_providers_and_erased_versions_are_left_alone(
    database: Database, sealed: Sealed
) -> None:
    # The HSM's root is not in the key dir: rewrapping its material would fail loudly.
    hsm = SpyProvider(LocalKeyring(random_key()), name="hsm")
    keyring = LocalKeyring.from_settings(sealed.settings)
    hierarchy = _hierarchy(keyring, hsm)
    tenant = sealed.values[0][1].tenant_id
    with database.unit_of_work() as uow:
        hierarchy.rotate(uow, ring_name(tenant), provider="hsm")
        hierarchy.create_ring(uow, tenant, "prj_shredded")
        hierarchy.shred(uow, ring_name(tenant, "prj_shredded"))
        uow.commit()
        hsm_material = uow.key_rings.version(ring_name(tenant), 3)
    assert hsm_material is not None
    done = rotate_root(database.unit_of_work, sealed.key_dir)
    assert done.rewrapped == 4  # the HSM's version and the shredded ring's are not local KEKs
    with database.unit_of_work() as uow:
        assert uow.key_rings.version(ring_name(tenant), 3) == hsm_material
    _open_all(database, LocalKeyring.from_settings(sealed.settings), sealed)


def test_nothing_is_deleted_while_a_kek_still_uses_an_old_root(
    database: Database, sealed: Sealed
) -> None:
    tenant = sealed.values[0][1].tenant_id
    old_root_only = _hierarchy(
        LocalKeyring(load_or_create_root_key(root_key_path(sealed.key_dir, 1)))
    )
    calls = 0

    def racing_server() -> UnitOfWork:
        """Between the rewrap and the check, a server still on root 1 rotates a ring."""
        nonlocal calls
        calls += 1
        if calls == 2:
            with database.unit_of_work() as uow:
                old_root_only.rotate(uow, ring_name(tenant))
                uow.commit()
        return database.unit_of_work()

    with pytest.raises(KeyUnavailable, match="nothing was deleted"):
        rotate_root(racing_server, sealed.key_dir, delete_old=True)
    assert root_versions(sealed.key_dir) == [1, 2]
    _open_all(database, LocalKeyring.from_settings(sealed.settings), sealed)


def test_keks_from_before_rings_move_to_the_new_root_and_keep_their_format(
    database: Database, sealed: Sealed
) -> None:
    # The old server's root key is root.key: migrated KEKs are 61 bytes wrapped under it.
    old_root = load_or_create_root_key(root_key_path(sealed.key_dir, 1))
    tenant = new_side(database, "initech").tenant.id
    with database.unit_of_work() as uow:
        legacy = [
            LegacyKek(uow.key_rings, ring_name(tenant), tenant, tenant, PLAINTEXT, old_root),
            LegacyKek(uow.key_rings, "platform/mfa@old", None, "platform", PLAINTEXT, old_root),
        ]
        uow.commit()
    done = rotate_root(database.unit_of_work, sealed.key_dir, delete_old=True)
    assert done.rewrapped == 4 + len(legacy)
    fresh = LocalKeyring.from_settings(sealed.settings)
    hierarchy = _hierarchy(fresh)
    with database.unit_of_work() as uow:
        for kek in legacy:
            [version] = uow.key_rings.versions(kek.ring.name)
            assert (version.aad_format, fresh.material_root_version(version)) == (1, 2)
            assert hierarchy.open(uow, kek.sealed, kek.binding) == PLAINTEXT
