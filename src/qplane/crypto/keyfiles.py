"""Key files on disk: created private and atomically, refused when exposed.

Used for the local root key here and for the Ed25519 keys in
`qplane.identity` (platform signing keys, worker keys).

Security properties:

* A new key file is written to a temporary name opened with
  ``O_CREAT | O_EXCL`` and mode ``0o600``, synced, then hard-linked into
  place, so a reader never sees a partial key, an existing key is never
  overwritten, and two processes racing to create one both end up using the
  same (winning) key.
* Directories created for keys get mode ``0o700``.
* A key file that is not a regular file, or whose mode grants group or
  others any access, is refused with `InsecureKeyFile`: a key that may
  already have leaked is not used. (Symbolic links are followed, so mounted
  secrets work; the check applies to the file they point to.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

from qplane.crypto.errors import InsecureKeyFile

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
_MAX_KEY_FILE_BYTES: Final = 64 * 1024


def ensure_private_dir(path: Path) -> None:
    """Create *path* (and missing parents) with mode 0700; tighten one we own to 0700.

    A directory owned by someone else (a read-only secrets mount) is left as
    it is; the files in it are still checked one by one.
    """
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, DIR_MODE)


def read_secret_file(path: Path) -> bytes:
    """Read a key file, refusing one that group or others can access.

    Raises `FileNotFoundError` when it does not exist and `InsecureKeyFile`
    when it is not a private regular file.
    """
    # O_NONBLOCK: a FIFO planted at the path must not hang the reader.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        # fstat on the open descriptor: the file checked is the file read.
        _check_private_file(path, os.fstat(fd))
        data = _read_at_most(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise InsecureKeyFile(f"refusing key file {path}: too large to be a key")
    return data


def write_new_secret_file(path: Path, data: bytes) -> None:
    """Create *path* (mode 0600) holding *data*; `FileExistsError` if it exists."""
    ensure_private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)  # atomic, and never replaces an existing key
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    _fsync_dir(path.parent)


def load_or_create_secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read *path*, or create it from ``make()`` if missing, and return its bytes.

    When two processes race, the loser's fresh key is discarded and both
    return the winner's.
    """
    try:
        return read_secret_file(path)
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):
        write_new_secret_file(path, make())
    return read_secret_file(path)


def _check_private_file(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InsecureKeyFile(f"refusing key file {path}: not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise InsecureKeyFile(
            f"refusing key file {path}: mode {mode:#o} lets group or others "
            f"access it; restrict it with 'chmod 600 {path}'"
        )


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
