"""Regional blob stores on their own: atomic files named by content, strict paths, a region each."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from qplane.config import Settings
from qplane.domain.clock import utcnow
from qplane.domain.errors import IntegrityError, ResidencyViolation, ValidationFailed
from qplane.store.blobs import BlobKey, FileBlobStore, RegionalBlobStores, blob_stores_for

# Fixed ids: they appear in parametrize ids, which must be the same in every xdist worker.
TENANT = "ten_" + "1" * 32
JOB = "job_" + "2" * 32
CIPHERTEXT = bytes(range(256)) * 3
HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore("eu-west", tmp_path / "eu-west")


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _age(path: Path, by: timedelta) -> None:
    """Pretend *path* was last written *by* ago."""
    moment = (utcnow() - by).timestamp()
    os.utime(path, (moment, moment))


def test_written_blob_reads_back_and_is_named_by_tenant_job_kind_and_digest(
    store: FileBlobStore,
) -> None:
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    assert key == BlobKey(TENANT, JOB, "result", hashlib.sha256(CIPHERTEXT).hexdigest())
    assert store.read(key) == CIPHERTEXT
    path = store.root / TENANT / JOB / f"result.{key.digest}"
    assert _files(store.root) == [path]
    assert path.read_bytes() == CIPHERTEXT


def test_blobs_are_private_to_the_service_account(store: FileBlobStore) -> None:
    store.write(TENANT, JOB, "circuit", CIPHERTEXT)
    for directory in (store.root, store.root / TENANT, store.root / TENANT / JOB):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (blob,) = _files(store.root)
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600


def test_writing_new_content_never_overwrites_an_existing_blob(store: FileBlobStore) -> None:
    """A replacement that is rolled back must leave the payload its row still names."""
    first = store.write(TENANT, JOB, "log", b"first")
    second = store.write(TENANT, JOB, "log", b"second")
    assert first != second
    assert (store.read(first), store.read(second)) == (b"first", b"second")
    assert store.write(TENANT, JOB, "log", b"first") == first  # same content: same blob
    assert len(_files(store.root)) == 2


@pytest.mark.parametrize(
    ("tenant_id", "job_id", "kind"),
    [
        ("..", JOB, "result"),
        ("../../etc", JOB, "result"),
        (TENANT, "../" + JOB, "result"),
        (TENANT, JOB + "/..", "result"),
        (TENANT, f"job_{'0' * 31}/", "result"),
        ("prj_" + "3" * 32, JOB, "result"),  # a well-formed id, but not a tenant's
        (TENANT, "ten_" + "4" * 32, "result"),
        (TENANT, JOB, "../result"),
        (TENANT, JOB, "result/../../x"),
        (TENANT, JOB, "Result"),
        (TENANT, JOB, ""),
        (TENANT, JOB, "r" * 33),
        ("", JOB, "result"),
    ],
)
def test_path_traversal_and_malformed_names_are_refused_before_touching_the_disk(
    store: FileBlobStore, tenant_id: str, job_id: str, kind: str
) -> None:
    with pytest.raises(ValidationFailed):
        store.write(tenant_id, job_id, kind, CIPHERTEXT)
    with pytest.raises(ValidationFailed):
        BlobKey(tenant_id, job_id, kind, hashlib.sha256(CIPHERTEXT).hexdigest())
    assert not store.root.exists()


@pytest.mark.parametrize("digest", ["", "../" + "a" * 61, "A" * 64, "a" * 63, "g" * 64])
def test_a_key_needs_a_sha256_digest(digest: str) -> None:
    with pytest.raises(ValidationFailed, match="digest"):
        BlobKey(TENANT, JOB, "result", digest)


def test_altered_blob_is_an_integrity_error_never_wrong_bytes(store: FileBlobStore) -> None:
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    (blob,) = _files(store.root)
    blob.write_bytes(CIPHERTEXT[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match="fails its digest"):
        store.read(key)


def test_missing_blob_is_an_integrity_error(store: FileBlobStore) -> None:
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    assert store.delete(key) is True
    assert store.delete(key) is False
    with pytest.raises(IntegrityError, match="missing"):
        store.read(key)


def test_listing_names_blobs_only_and_can_be_limited_to_old_ones(store: FileBlobStore) -> None:
    old = store.write(TENANT, JOB, "circuit", b"old")
    new = store.write(TENANT, JOB, "result", b"new")
    _age(store.root / TENANT / JOB / old.name, 2 * HOUR)
    (store.root / TENANT / JOB / "notes.txt").write_bytes(b"stray")
    (store.root / "not-a-tenant").mkdir()
    assert sorted(store.stored_keys(), key=lambda k: k.kind) == [old, new]
    assert list(store.stored_keys(written_before=utcnow() - HOUR)) == [old]


def test_delete_spares_a_blob_written_after_the_cut_off(store: FileBlobStore) -> None:
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    assert store.delete(key, unless_written_after=utcnow() - HOUR) is False
    assert store.read(key) == CIPHERTEXT


def test_debris_of_crashed_writes_and_empty_directories_is_removed_once_old(
    store: FileBlobStore,
) -> None:
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    job_dir = store.root / TENANT / JOB
    crashed = job_dir / ".tmp-result.leftover"
    crashed.write_bytes(b"half a blob")
    _age(crashed, 2 * HOUR)
    fresh = job_dir / ".tmp-log.in-flight"
    fresh.write_bytes(b"being written")
    assert store.remove_debris(utcnow() - HOUR) == 1
    assert sorted(p.name for p in job_dir.iterdir()) == [fresh.name, key.name]

    fresh.unlink()
    store.delete(key)
    for directory in (job_dir, job_dir.parent):
        _age(directory, 2 * HOUR)
    assert store.remove_debris(utcnow() - HOUR) == 1  # the job's; its tenant's just changed
    assert list(store.root.iterdir()) == [job_dir.parent]
    _age(job_dir.parent, 2 * HOUR)
    assert store.remove_debris(utcnow() - HOUR) == 1
    assert list(store.root.iterdir()) == []


def test_a_job_directory_taken_by_the_collector_is_recreated_on_the_next_write(
    store: FileBlobStore,
) -> None:
    store.delete(store.write(TENANT, JOB, "result", b"gone"))
    for directory in (store.root / TENANT / JOB, store.root / TENANT):
        _age(directory, 2 * HOUR)
    store.remove_debris(utcnow() - HOUR)
    key = store.write(TENANT, JOB, "result", CIPHERTEXT)
    assert store.read(key) == CIPHERTEXT


def test_a_store_lives_in_one_valid_region(tmp_path: Path) -> None:
    for region in ("", "../eu", "EU", "e" * 33):
        with pytest.raises(ValidationFailed):
            FileBlobStore(region, tmp_path)


def test_a_region_without_a_store_is_a_residency_violation(tmp_path: Path) -> None:
    stores = RegionalBlobStores([FileBlobStore("us-east", tmp_path / "us")])
    assert stores.for_region("us-east").root == tmp_path / "us"
    with pytest.raises(ResidencyViolation, match="region 'eu-west'") as refused:
        stores.for_region("eu-west")
    assert refused.value.extensions == {"region": "eu-west"}
    assert refused.value.status == 403


def test_two_stores_for_one_region_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two blob stores for region 'local'"):
        RegionalBlobStores(
            [FileBlobStore("local", tmp_path / "a"), FileBlobStore("local", tmp_path)]
        )


def test_by_default_every_catalogue_region_gets_a_store_under_the_data_dir(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    stores = blob_stores_for(settings, {"local", "eu-west", "us-east"})
    assert stores.regions() == ("eu-west", "local", "us-east")
    assert stores.for_region("eu-west").root == tmp_path / "blobs" / "eu-west"


def test_configured_stores_are_the_only_regions_that_hold_payloads(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_stores={"eu-west": tmp_path / "frankfurt"})
    stores = blob_stores_for(settings, {"local", "eu-west", "us-east"})
    assert stores.regions() == ("eu-west",)
    assert stores.for_region("eu-west").root == tmp_path / "frankfurt"
    with pytest.raises(ResidencyViolation):
        stores.for_region("us-east")


def test_a_configured_region_must_be_a_valid_slug(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_stores={"../eu": tmp_path / "x"})
    with pytest.raises(ValidationFailed, match="region"):
        blob_stores_for(settings, ())
