"""Rotating the local root key: a new root wraps every KEK; payloads and data keys stay put.

The root key is the top of the embedded hierarchy. Rotating it writes a new
root key file (``root-<n>.key``, 0600), rewraps the material of every local
KEK version under it in one transaction, and can then delete the old root
files, after which a copy of an old root key decrypts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyring import (
    LOCAL,
    LocalKeyring,
    load_or_create_root_key,
    load_root_keys,
    root_key_path,
    root_versions,
)
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class RootRotation:
    new_version: int
    rewrapped: int
    deleted_versions: tuple[int, ...]


def rotate_root(
    uow_factory: UnitOfWorkFactory,
    key_dir: Path,
    *,
    delete_old: bool = False,
    record: Callable[[UnitOfWork, int, int], None] | None = None,
) -> RootRotation:
    """Rewrap every local KEK under a new root key version.

    *record* is called inside the rewrap's transaction with (new version,
    KEKs rewrapped), so the audit entry commits exactly when the change does.
    """
    roots = load_root_keys(key_dir)
    new_version = max(roots) + 1
    roots[new_version] = load_or_create_root_key(root_key_path(key_dir, new_version))
    keyring = LocalKeyring.with_roots(roots)
    with uow_factory() as uow:
        rewrapped = _rewrap_all(uow, keyring)
        if record is not None:
            record(uow, new_version, rewrapped)
        uow.commit()
    deleted: list[int] = []
    if delete_old:
        with uow_factory() as uow:
            if _still_under_older_roots(uow, keyring):
                raise KeyUnavailable("some keys still use an old root key; nothing was deleted")
        for version in root_versions(key_dir):
            if version < new_version:
                root_key_path(key_dir, version).unlink()
                deleted.append(version)
    return RootRotation(new_version, rewrapped, tuple(deleted))


def _rewrap_all(uow: UnitOfWork, keyring: LocalKeyring) -> int:
    count = 0
    for ring in uow.key_rings.all_rings():
        for kek in uow.key_rings.versions(ring.name):
            if kek.provider != LOCAL or kek.material is None:
                continue
            if keyring.material_root_version(kek) == keyring.root_version:
                continue
            material = keyring.rewrap_material(ring, kek)
            uow.key_rings.update_version(replace(kek, material=material))
            count += 1
    return count


def _still_under_older_roots(uow: UnitOfWork, keyring: LocalKeyring) -> bool:
    return any(
        kek.provider == LOCAL
        and kek.material is not None
        and keyring.material_root_version(kek) != keyring.root_version
        for ring in uow.key_rings.all_rings()
        for kek in uow.key_rings.versions(ring.name)
    )
