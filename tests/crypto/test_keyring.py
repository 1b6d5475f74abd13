"""KeyProvider contract (every provider) and the LocalKeyring's root keys."""

from __future__ import annotations

import base64
import os
import stat
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from qplane.config import Settings
from qplane.crypto import (
    InsecureKeyFile,
    KeyProvider,
    KeyUnavailable,
    LocalKeyring,
    SecretBytes,
    load_or_create_root_key,
)
from qplane.crypto._primitives import random_key
from qplane.crypto.keyring import load_root_keys, root_key_path, root_versions
from qplane.domain.clock import utcnow
from qplane.domain.errors import IntegrityError, NotFound, QplaneError
from qplane.domain.keys import KekState, KekVersion, KeyRing, platform_ring, ring_name

AAD = b"binding aad"


def _ring(provider: KeyProvider, tenant_id: str | None, project_id: str | None = None) -> KeyRing:
    name = ring_name(tenant_id, project_id) if tenant_id else platform_ring("mfa")
    return KeyRing(
        name=name,
        tenant_id=tenant_id,
        project_id=project_id,
        environment="default",
        provider=provider.name,
        created_at=utcnow(),
    )


def _kek(provider: KeyProvider, ring: KeyRing, version: int) -> KekVersion:
    material = provider.create_kek(ring, version)
    return KekVersion(
        ring.name, version, KekState.ACTIVE, utcnow(), material, provider=provider.name
    )


# --- contract: every KeyProvider ----------------------------------------------


def test_every_kek_version_gets_material_of_its_own(provider: KeyProvider) -> None:
    a, b = _ring(provider, "ten_a"), _ring(provider, "ten_b")
    materials = [
        provider.create_kek(a, 1),
        provider.create_kek(a, 2),
        provider.create_kek(b, 1),
        provider.create_kek(a, 1),  # even the same ring and version again
    ]
    assert all(materials)
    assert len(set(materials)) == len(materials)


def test_wrapped_data_key_unwraps_under_its_kek_and_aad(provider: KeyProvider) -> None:
    ring = _ring(provider, "ten_a")
    kek = _kek(provider, ring, 1)
    data_key = random_key()
    wrapped = provider.wrap(ring, kek, data_key, AAD)
    assert provider.unwrap(ring, kek, wrapped, AAD) == data_key
    assert data_key.reveal() not in wrapped


def test_old_versions_still_unwrap_after_a_new_one(provider: KeyProvider) -> None:
    ring = _ring(provider, "ten_a")
    data_key = random_key()
    v1 = _kek(provider, ring, 1)
    wrapped_v1 = provider.wrap(ring, v1, data_key, AAD)
    v2 = _kek(provider, ring, 2)
    wrapped_v2 = provider.wrap(ring, v2, data_key, AAD)
    assert provider.unwrap(ring, v1, wrapped_v1, AAD) == data_key
    assert provider.unwrap(ring, v2, wrapped_v2, AAD) == data_key


def test_wrapping_the_same_data_key_twice_differs(provider: KeyProvider) -> None:
    ring = _ring(provider, "ten_a")
    kek = _kek(provider, ring, 1)
    data_key = random_key()
    assert provider.wrap(ring, kek, data_key, AAD) != provider.wrap(ring, kek, data_key, AAD)


def test_wrapped_data_key_is_bound_to_ring_version_and_aad(provider: KeyProvider) -> None:
    rings = [_ring(provider, "ten_a"), _ring(provider, "ten_a", "prj_1"), _ring(provider, "ten_b")]
    keks = {(ring.name, v): _kek(provider, ring, v) for ring in rings for v in (1, 2)}
    home = rings[0]
    wrapped = provider.wrap(home, keks[(home.name, 2)], random_key(), AAD)
    for ring, version, aad in (
        (rings[1], 2, AAD),  # the same tenant's project ring
        (rings[2], 2, AAD),  # another tenant's ring
        (home, 1, AAD),  # another version of the same ring
        (home, 2, b"other aad"),  # another artifact
    ):
        with pytest.raises(IntegrityError):
            provider.unwrap(ring, keks[(ring.name, version)], wrapped, aad)


@pytest.mark.parametrize("blob", [b"", b"\x01" * 61, bytes(range(200))])
def test_garbage_instead_of_a_wrapped_key_is_integrity_error(
    provider: KeyProvider, blob: bytes
) -> None:
    ring = _ring(provider, "ten_a")
    with pytest.raises(IntegrityError):
        provider.unwrap(ring, _kek(provider, ring, 1), blob, AAD)


def test_destroyed_kek_is_key_unavailable_not_not_found(provider: KeyProvider) -> None:
    ring = _ring(provider, "ten_a")
    kek = _kek(provider, ring, 1)
    wrapped = provider.wrap(ring, kek, random_key(), AAD)
    provider.destroy(ring, kek)
    erased = replace(kek, state=KekState.DESTROYED, material=None)
    with pytest.raises(KeyUnavailable) as caught:
        provider.unwrap(ring, erased, wrapped, AAD)
    assert not isinstance(caught.value, NotFound)
    assert (caught.value.slug, caught.value.status) == ("key-unavailable", 503)
    with pytest.raises(KeyUnavailable):
        provider.wrap(ring, erased, random_key(), AAD)


# --- LocalKeyring: what the store sees ----------------------------------------


def test_material_is_the_root_version_and_a_wrapped_kek() -> None:
    keyring = LocalKeyring(random_key())
    kek = _kek(keyring, _ring(keyring, "ten_a"), 1)
    assert kek.material is not None
    assert len(kek.material) == 4 + 61  # root version + format, nonce, key, tag
    assert struct.unpack(">I", kek.material[:4]) == (1,)
    assert keyring.material_root_version(kek) == 1


def test_material_swapped_between_rings_does_not_unwrap() -> None:
    keyring = LocalKeyring(random_key())
    ring_a, ring_b = _ring(keyring, "ten_a"), _ring(keyring, "ten_b")
    kek_a, kek_b = _kek(keyring, ring_a, 1), _kek(keyring, ring_b, 1)
    stolen = replace(kek_a, material=kek_b.material)
    with pytest.raises(IntegrityError, match="stored key version failed to verify"):
        keyring.wrap(ring_a, stolen, random_key(), AAD)


def test_material_moved_to_another_version_does_not_unwrap() -> None:
    keyring = LocalKeyring(random_key())
    ring = _ring(keyring, "ten_a")
    v1 = _kek(keyring, ring, 1)
    with pytest.raises(IntegrityError, match="stored key version failed to verify"):
        keyring.wrap(ring, replace(v1, version=2), random_key(), AAD)


def test_another_root_key_cannot_use_the_material() -> None:
    keyring = LocalKeyring(random_key())
    ring = _ring(keyring, "ten_a")
    kek = _kek(keyring, ring, 1)
    with pytest.raises(IntegrityError):
        LocalKeyring(random_key()).wrap(ring, kek, random_key(), AAD)


def test_erased_material_is_key_unavailable_whatever_the_state() -> None:
    keyring = LocalKeyring(random_key())
    ring = _ring(keyring, "ten_a")
    kek = replace(_kek(keyring, ring, 1), material=None)
    with pytest.raises(KeyUnavailable, match="destroyed"):
        keyring.wrap(ring, kek, random_key(), AAD)
    with pytest.raises(KeyUnavailable):
        keyring.material_root_version(kek)


def test_material_under_a_root_version_not_held_is_key_unavailable() -> None:
    old, new = random_key(), random_key()
    ring = _ring(LocalKeyring(old), "ten_a")
    kek = _kek(LocalKeyring.with_roots({1: old, 2: new}), ring, 1)
    with pytest.raises(KeyUnavailable, match="root key version 2 is not available"):
        LocalKeyring(old).wrap(ring, kek, random_key(), AAD)


def test_highest_root_version_wraps_new_keks_and_older_ones_still_work() -> None:
    roots = {1: random_key(), 3: random_key()}
    ring = _ring(LocalKeyring(roots[1]), "ten_a")
    under_1 = _kek(LocalKeyring(roots[1]), ring, 1)
    keyring = LocalKeyring.with_roots(roots)
    under_3 = _kek(keyring, ring, 2)
    assert keyring.root_version == 3
    assert keyring.material_root_version(under_1) == 1
    assert keyring.material_root_version(under_3) == 3
    data_key = random_key()
    for kek in (under_1, under_3):
        assert keyring.unwrap(ring, kek, keyring.wrap(ring, kek, data_key, AAD), AAD) == data_key


def test_rewrapped_material_holds_the_same_kek_under_the_new_root() -> None:
    old, new = random_key(), random_key()
    ring = _ring(LocalKeyring(old), "ten_a")
    before = _kek(LocalKeyring(old), ring, 1)
    data_key = random_key()
    wrapped = LocalKeyring(old).wrap(ring, before, data_key, AAD)
    after = replace(
        before, material=LocalKeyring.with_roots({1: old, 2: new}).rewrap_material(ring, before)
    )
    only_new = LocalKeyring.with_roots({2: new})
    assert only_new.material_root_version(after) == 2
    assert only_new.unwrap(ring, after, wrapped, AAD) == data_key
    with pytest.raises(KeyUnavailable):
        LocalKeyring(old).unwrap(ring, after, wrapped, AAD)


def test_keyring_repr_hides_every_root_key() -> None:
    roots = {1: random_key(), 2: random_key()}
    for keyring in (LocalKeyring(roots[1]), LocalKeyring.with_roots(roots)):
        text = repr(keyring)
        assert "redacted" in text
        for root in roots.values():
            assert root.reveal().hex() not in text
            assert repr(root.reveal()) not in text


def test_root_key_must_be_32_bytes() -> None:
    with pytest.raises(KeyUnavailable):
        LocalKeyring(SecretBytes(b"short"))
    with pytest.raises(KeyUnavailable):
        LocalKeyring.with_roots({1: random_key(), 2: SecretBytes(b"short")})
    with pytest.raises(KeyUnavailable):
        LocalKeyring.with_roots({})


# --- root key: files and environment ------------------------------------------


def test_root_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "root.key"
    created = load_or_create_root_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_root_key(path) == created
    assert len(created) == 32
    assert [p.name for p in path.parent.iterdir()] == ["root.key"]  # no temp file left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620])
def test_root_key_readable_or_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    load_or_create_root_key(path)
    os.chmod(path, mode)
    with pytest.raises(InsecureKeyFile) as caught:
        load_or_create_root_key(path)
    assert "chmod 600" in str(caught.value)
    assert isinstance(caught.value, QplaneError)


def test_root_key_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    path.mkdir(mode=0o700)
    with pytest.raises(InsecureKeyFile, match="not a regular file"):
        load_or_create_root_key(path)


@pytest.mark.parametrize("content", [b"not base64!!\n", base64.b64encode(b"x" * 16)])
def test_malformed_root_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "root.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyUnavailable):
        load_or_create_root_key(path)


def test_root_key_versions_are_named_root_and_root_n(tmp_path: Path) -> None:
    assert root_key_path(tmp_path, 1) == tmp_path / "root.key"
    assert root_key_path(tmp_path, 2) == tmp_path / "root-2.key"
    assert root_versions(tmp_path / "missing") == []
    for name in ("root-x.key", "root-.key", "root-1.key", "root-2.key.bak", "other.key"):
        (tmp_path / name).write_bytes(b"")
    load_or_create_root_key(root_key_path(tmp_path, 1))
    load_or_create_root_key(root_key_path(tmp_path, 12))
    assert root_versions(tmp_path) == [1, 12]


def test_load_root_keys_creates_version_1_only_when_there_is_none(tmp_path: Path) -> None:
    first = load_root_keys(tmp_path / "keys")
    assert list(first) == [1]
    assert load_root_keys(tmp_path / "keys") == first
    only_later = tmp_path / "rotated"
    second = load_or_create_root_key(root_key_path(only_later, 2))
    assert load_root_keys(only_later) == {2: second}
    assert not root_key_path(only_later, 1).exists()  # a deleted old root stays deleted


def test_from_settings_prefers_root_key_setting(tmp_path: Path) -> None:
    root = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(data_dir=tmp_path, root_key=SecretStr(root))
    keyring = LocalKeyring.from_settings(settings)
    same = LocalKeyring.from_settings(Settings(data_dir=tmp_path, root_key=SecretStr(root)))
    ring = _ring(keyring, "ten_a")
    kek = _kek(keyring, ring, 1)
    data_key = random_key()
    assert same.unwrap(ring, kek, keyring.wrap(ring, kek, data_key, AAD), AAD) == data_key
    assert not settings.key_dir.exists()  # nothing written when the key is supplied


def test_from_settings_falls_back_to_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    keyring = LocalKeyring.from_settings(settings)
    path = settings.key_dir / "root.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.key_dir.stat().st_mode) == 0o700
    assert keyring.root_version == 1


def test_from_settings_loads_every_root_version_in_the_key_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = LocalKeyring.from_settings(settings)
    ring = _ring(first, "ten_a")
    under_1 = _kek(first, ring, 1)
    load_or_create_root_key(root_key_path(settings.key_dir, 2))
    keyring = LocalKeyring.from_settings(settings)
    assert keyring.root_version == 2
    assert keyring.material_root_version(_kek(keyring, ring, 2)) == 2
    keyring.wrap(ring, under_1, random_key(), AAD)  # still usable


def test_running_keyring_picks_up_a_rotated_root_for_new_keks(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    running = LocalKeyring.from_settings(settings)
    ring = _ring(running, "ten_a")
    load_or_create_root_key(root_key_path(settings.key_dir, 2))
    assert running.material_root_version(_kek(running, ring, 1)) == 2
    assert running.root_version == 2


def test_keyring_from_a_supplied_root_key_reads_no_key_files(tmp_path: Path) -> None:
    root = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(data_dir=tmp_path, root_key=SecretStr(root))
    load_or_create_root_key(root_key_path(settings.key_dir, 2))
    keyring = LocalKeyring.from_settings(settings)
    assert keyring.material_root_version(_kek(keyring, _ring(keyring, "ten_a"), 1)) == 1


def test_from_settings_refuses_malformed_root_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, root_key=SecretStr("dG9vIHNob3J0"))
    with pytest.raises(KeyUnavailable) as caught:
        LocalKeyring.from_settings(settings)
    assert "dG9vIHNob3J0" not in str(caught.value)
