"""Key files: private on creation, never overwritten, refused when exposed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qplane.crypto import InsecureKeyFile
from qplane.crypto.keyfiles import (
    ensure_private_dir,
    load_or_create_secret_file,
    read_secret_file,
    write_new_secret_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_directories_are_created_private(tmp_path: Path) -> None:
    write_new_secret_file(tmp_path / "data" / "keys" / "k", b"key")
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "keys") == 0o700
    assert _mode(tmp_path / "data" / "keys" / "k") == 0o600


def test_an_open_directory_we_own_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # noqa: S103 - the open mode under test
    ensure_private_dir(directory)
    assert _mode(directory) == 0o700


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_new_secret_file(path, b"first")
    with pytest.raises(FileExistsError):
        write_new_secret_file(path, b"second")
    assert read_secret_file(path) == b"first"
    assert load_or_create_secret_file(path, lambda: b"third") == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]  # no temp files left


def test_load_or_create_creates_once(tmp_path: Path) -> None:
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return b"fresh"

    path = tmp_path / "k"
    assert load_or_create_secret_file(path, make) == b"fresh"
    assert load_or_create_secret_file(path, make) == b"fresh"
    assert len(made) == 1


def test_symlink_to_a_private_file_is_followed_and_checked(tmp_path: Path) -> None:
    # Mounted secrets (Kubernetes) are symlinks; the target's mode is what counts.
    target = tmp_path / "target"
    write_new_secret_file(target, b"key")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_secret_file(link) == b"key"
    os.chmod(target, 0o644)
    with pytest.raises(InsecureKeyFile):
        read_secret_file(link)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(InsecureKeyFile, match="not a regular file"):
        read_secret_file(fifo)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big"
    write_new_secret_file(path, b"x" * (64 * 1024 + 1))
    with pytest.raises(InsecureKeyFile, match="too large"):
        read_secret_file(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_secret_file(tmp_path / "absent")
