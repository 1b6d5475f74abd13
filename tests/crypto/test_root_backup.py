"""Root key backups: sealed with the hybrid post-quantum KEM, opened only by the recovery key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from qplane.crypto import hybrid_kem
from qplane.crypto.keyring import load_or_create_root_key, load_root_keys, root_key_path
from qplane.crypto.root_backup import backup_root_keys, restore_root_keys
from qplane.domain.errors import Conflict, IntegrityError


@pytest.fixture
def recovery() -> hybrid_kem.HybridKemPrivateKey:
    return hybrid_kem.HybridKemPrivateKey.generate()


def _key_dir(tmp_path: Path, versions: int = 2) -> Path:
    key_dir = tmp_path / "keys"
    load_root_keys(key_dir)  # creates root.key
    for version in range(2, versions + 1):
        load_or_create_root_key(root_key_path(key_dir, version))
    return key_dir


def test_every_root_version_is_restored_byte_for_byte_with_the_recovery_key(
    tmp_path: Path, recovery: hybrid_kem.HybridKemPrivateKey
) -> None:
    source = _key_dir(tmp_path / "a")
    blob, summary = backup_root_keys(source, recovery.public_key())
    target = tmp_path / "b" / "keys"

    restored = restore_root_keys(target, blob, recovery)

    assert summary.versions == restored.versions == (1, 2)
    assert load_root_keys(target) == load_root_keys(source)
    for version in (1, 2):
        assert stat.S_IMODE(root_key_path(target, version).stat().st_mode) == 0o600


def test_the_backup_holds_no_root_key_in_the_clear(
    tmp_path: Path, recovery: hybrid_kem.HybridKemPrivateKey
) -> None:
    source = _key_dir(tmp_path)
    blob, _ = backup_root_keys(source, recovery.public_key())

    for version in (1, 2):
        encoded = root_key_path(source, version).read_bytes().strip()
        assert encoded not in blob
        assert load_root_keys(source)[version].reveal() not in blob


def test_another_key_or_a_flipped_bit_cannot_restore(
    tmp_path: Path, recovery: hybrid_kem.HybridKemPrivateKey
) -> None:
    blob, _ = backup_root_keys(_key_dir(tmp_path / "a"), recovery.public_key())
    stranger = hybrid_kem.HybridKemPrivateKey.generate()
    flipped = bytearray(blob)
    flipped[-1] ^= 1

    with pytest.raises(IntegrityError):
        restore_root_keys(tmp_path / "b", blob, stranger)
    with pytest.raises(IntegrityError):
        restore_root_keys(tmp_path / "c", bytes(flipped), recovery)
    assert not (tmp_path / "b").exists()


def test_restoring_never_overwrites_a_different_root_key(
    tmp_path: Path, recovery: hybrid_kem.HybridKemPrivateKey
) -> None:
    blob, _ = backup_root_keys(_key_dir(tmp_path / "a"), recovery.public_key())
    other = _key_dir(tmp_path / "b", versions=1)
    before = root_key_path(other, 1).read_bytes()

    with pytest.raises(Conflict, match="version 1 already exists"):
        restore_root_keys(other, blob, recovery)

    assert root_key_path(other, 1).read_bytes() == before
    # Restoring onto the same keys is harmless.
    same = _key_dir(tmp_path / "a", versions=2)
    assert restore_root_keys(same, blob, recovery).versions == (1, 2)
