"""Regional blob stores: where a job's payloads (circuit, result, log) live.

Residency keeps routing metadata and payloads apart: the database (which may
be global) holds each artifact's row with its wrapped key, nonce, region and
digest, while the ciphertext itself is a file in a blob store of the job's
region. A region without a store cannot hold payloads, and a payload is
never written to another region's store instead.

A blob is named by its content, ``<root>/<tenant_id>/<job_id>/<kind>.<sha256>``,
so writing never overwrites a blob that a committed row still points to: a
replacement whose transaction rolls back leaves the old payload intact and an
orphan behind, which the garbage collector removes later. Every part of the
path is checked against a strict pattern first, so no id can climb out of
the store's root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from qplane.domain import ids
from qplane.domain.errors import IntegrityError, ResidencyViolation, ValidationFailed
from qplane.domain.tenancy import validate_region

if TYPE_CHECKING:
    from qplane.config import Settings

_KIND: Final = re.compile(r"^[a-z]{1,32}$")
_DIGEST: Final = re.compile(r"^[0-9a-f]{64}$")
_BLOB_NAME: Final = re.compile(r"^(?P<kind>[a-z]{1,32})\.(?P<digest>[0-9a-f]{64})$")
#: Files being written start with this; a crash can leave one behind for the collector.
_TEMPORARY: Final = ".tmp-"
_DIR_MODE: Final = 0o700
_FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class BlobKey:
    """Names one blob in a store: whose job it belongs to, which payload, and its SHA-256."""

    tenant_id: str
    job_id: str
    kind: str
    digest: str

    def __post_init__(self) -> None:
        """Refuse anything that is not an id, a kind or a digest: they become path parts."""
        if not ids.is_well_formed(self.tenant_id, ids.TENANT):
            raise ValidationFailed("a blob's tenant id is not well formed", field="tenant_id")
        if not ids.is_well_formed(self.job_id, ids.JOB):
            raise ValidationFailed("a blob's job id is not well formed", field="job_id")
        if not _KIND.match(self.kind):
            raise ValidationFailed("a blob's kind must be 1 to 32 lowercase letters", field="kind")
        if not _DIGEST.match(self.digest):
            raise ValidationFailed("a blob's digest must be SHA-256 in hex", field="digest")

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.digest}"


class FileBlobStore:
    """One region's blobs, as files under *root* (0700 directories, 0600 files).

    Writes are atomic and durable (a temporary file, fsync, rename, fsync of
    the directory): a reader sees a whole blob or none.
    """

    def __init__(self, region: str, root: Path) -> None:
        if not region:
            raise ValidationFailed("a blob store needs a region", field="region")
        self.region = validate_region(region)
        self.root = root

    def __repr__(self) -> str:
        return f"FileBlobStore({self.region!r}, {str(self.root)!r})"

    def write(self, tenant_id: str, job_id: str, kind: str, data: bytes) -> BlobKey:
        """Store *data* and return the key naming it (its digest included)."""
        key = BlobKey(tenant_id, job_id, kind, hashlib.sha256(data).hexdigest())
        fd, temporary = self._create_temporary(key)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, temporary.parent / key.name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        _fsync_directory(temporary.parent)
        return key

    def read(self, key: BlobKey) -> bytes:
        """The blob's bytes, checked against its digest.

        Raises `IntegrityError` when the blob is missing or its content does
        not match: wrong bytes are never returned.
        """
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"payload blob is missing from region {self.region!r}") from None
        if hashlib.sha256(data).hexdigest() != key.digest:
            raise IntegrityError(f"payload blob in region {self.region!r} fails its digest")
        return data

    def delete(self, key: BlobKey, *, unless_written_after: datetime | None = None) -> bool:
        """Remove the blob; False when it was not there (or was rewritten after the cut-off)."""
        path = self._path(key)
        if unless_written_after is not None and _written_after(path, unless_written_after):
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def stored_keys(self, written_before: datetime | None = None) -> Iterator[BlobKey]:
        """Every blob in the store (those last written before *written_before*, if given)."""
        for tenant_dir in self._tenant_directories():
            for job_dir in self._job_directories(tenant_dir):
                for entry in _entries(job_dir):
                    found = _BLOB_NAME.match(entry.name)
                    if found is None or not entry.is_file(follow_symlinks=False):
                        continue
                    if written_before is None or not _written_after(entry, written_before):
                        yield BlobKey(tenant_dir.name, job_dir.name, found["kind"], found["digest"])

    def remove_debris(self, written_before: datetime) -> int:
        """Remove leftover temporary files and empty directories older than *written_before*.

        A temporary file is what a write that crashed left behind; a job's
        directory empties once the collector took its last blob.
        """
        removed = 0
        for tenant_dir in self._tenant_directories():
            for job_dir in self._job_directories(tenant_dir):
                for entry in _entries(job_dir):
                    if entry.name.startswith(_TEMPORARY) and not _written_after(
                        entry, written_before
                    ):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                            removed += 1
                removed += _remove_if_empty(job_dir, written_before)
            removed += _remove_if_empty(tenant_dir, written_before)
        return removed

    def _create_temporary(self, key: BlobKey) -> tuple[int, Path]:
        """A new temporary file (0600) in the job's directory, open for writing."""
        name = f"{_TEMPORARY}{key.name}.{secrets.token_hex(8)}"
        try:
            return _create(self._directory(key) / name)
        except FileNotFoundError:  # the collector took the job's old, empty directory meanwhile
            return _create(self._directory(key) / name)

    def _directory(self, key: BlobKey) -> Path:
        """The job's directory, created (0700, durably) when missing."""
        self.root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        directory = self.root
        for part in (key.tenant_id, key.job_id):
            directory = directory / part
            try:
                directory.mkdir(mode=_DIR_MODE)
            except FileExistsError:
                continue
            _fsync_directory(directory.parent)
        return directory

    def _path(self, key: BlobKey) -> Path:
        return self.root / key.tenant_id / key.job_id / key.name

    def _tenant_directories(self) -> Iterator[Path]:
        for entry in _entries(self.root):
            if ids.is_well_formed(entry.name, ids.TENANT) and entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)

    def _job_directories(self, tenant_dir: Path) -> Iterator[Path]:
        for entry in _entries(tenant_dir):
            if ids.is_well_formed(entry.name, ids.JOB) and entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)


class RegionalBlobStores:
    """The blob store of each region; a region not listed can hold no payloads."""

    def __init__(self, stores: Iterable[FileBlobStore]) -> None:
        self._stores: dict[str, FileBlobStore] = {}
        for store in stores:
            if store.region in self._stores:
                raise ValueError(f"two blob stores for region {store.region!r}")
            self._stores[store.region] = store

    def __repr__(self) -> str:
        return f"RegionalBlobStores({list(self._stores.values())!r})"

    def for_region(self, region: str) -> FileBlobStore:
        """The store of *region*.

        Raises `ResidencyViolation` when the region has none: a payload is
        never written to another region's store instead.
        """
        store = self._stores.get(region)
        if store is None:
            raise ResidencyViolation(
                f"no blob store holds payloads in region {region!r}, and payloads "
                "are never stored outside their job's region",
                region=region,
            )
        return store

    def regions(self) -> tuple[str, ...]:
        """The regions that have a store, sorted."""
        return tuple(sorted(self._stores))


def blob_stores_for(settings: Settings, regions: Iterable[str]) -> RegionalBlobStores:
    """The blob stores a deployment has.

    With ``settings.blob_stores`` set, exactly those (only those regions can
    hold payloads). Unset (the embedded default), one per region of
    *regions* (the device catalogue's) under ``<data_dir>/blobs/<region>``.
    """
    if settings.blob_stores:
        chosen = dict(settings.blob_stores)
    else:
        chosen = {region: settings.blob_dir / region for region in regions if region}
    return RegionalBlobStores(FileBlobStore(region, root) for region, root in chosen.items())


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    """The directory's entries; none when it is missing (nothing written yet, or collected)."""
    try:
        with os.scandir(directory) as scan:
            return list(scan)
    except FileNotFoundError:
        return []


def _written_after(path: os.DirEntry[str] | Path, moment: datetime) -> bool:
    """Whether *path* changed after *moment*; a path gone meanwhile counts as changed (kept)."""
    try:
        return path.stat(follow_symlinks=False).st_mtime > moment.timestamp()
    except FileNotFoundError:
        return True


def _create(path: Path) -> tuple[int, Path]:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE), path


def _remove_if_empty(directory: Path, written_before: datetime) -> int:
    """Remove *directory* when empty and unchanged since *written_before* (a write may race)."""
    if _written_after(directory, written_before):
        return 0
    try:
        directory.rmdir()
    except OSError:  # not empty, or already gone
        return 0
    return 1


def _fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in *directory* survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
