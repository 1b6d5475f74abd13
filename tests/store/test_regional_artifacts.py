"""Residency of payloads: an artifact's row stays in the (global) database, its ciphertext
goes to the blob store of its job's region, and never anywhere else."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.store.conftest import World

from qplane.broker.sweeper import Sweeper
from qplane.crypto import ArtifactBinding, LocalKeyring, _primitives
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.crypto.providers import KeyProviders
from qplane.domain import tenant_scope
from qplane.domain.clock import utcnow
from qplane.domain.errors import IntegrityError, NotFound, ResidencyViolation
from qplane.domain.jobs import Job
from qplane.domain.ports import SealedArtifact
from qplane.store import Database
from qplane.store.blobs import FileBlobStore, RegionalBlobStores
from qplane.store.models import ArtifactRow

SEALED = SealedArtifact(
    kek_version=1,
    wrapped_key=b"\x00wrapped\xff",
    nonce=b"n" * 12,
    ciphertext=bytes(range(256)),
    kek_ring="ten_x/*",
)
_KEYS = (SEALED.wrapped_key, SEALED.nonce)
#: Past the collector's grace period: orphans this old are fair game.
LATER = timedelta(hours=2)


@pytest.fixture
def stores(tmp_path: Path) -> RegionalBlobStores:
    return RegionalBlobStores(
        [FileBlobStore("eu-west", tmp_path / "eu-west"), FileBlobStore("us-east", tmp_path / "us")]
    )


@pytest.fixture
def database(database_url: str, stores: RegionalBlobStores) -> Iterator[Database]:
    """The store under test: the `world` is built on a database with regional blob stores."""
    db = Database(database_url, blobs=stores)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()


def _job_in(world: World, region: str, side: str = "a") -> Job:
    job = world.job(world.a if side == "a" else world.b, region=region)
    world.add_jobs(job)
    return job


def _put(world: World, job: Job, kind: str = "result", sealed: SealedArtifact = SEALED) -> None:
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(job.tenant_id, job.id, kind, sealed)
        uow.commit()


def _get(db: Database, job: Job, kind: str = "result") -> SealedArtifact:
    with db.unit_of_work() as uow:
        return uow.artifacts.get(job.tenant_id, job.id, kind)


def _row(db: Database, job: Job, kind: str = "result") -> tuple[object, ...] | None:
    """The row's (ciphertext, region, blob_digest, wrapped_key, nonce), as stored."""
    with db.unit_of_work() as uow:
        found = uow.session.execute(
            select(
                ArtifactRow.ciphertext,
                ArtifactRow.region,
                ArtifactRow.blob_digest,
                ArtifactRow.wrapped_key,
                ArtifactRow.nonce,
            ).where(ArtifactRow.job_id == job.id, ArtifactRow.kind == kind)
        ).first()
        return None if found is None else tuple(found)


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _blob(stores: RegionalBlobStores, region: str) -> Path:
    (only,) = _files(stores.for_region(region).root)
    return only


def test_round_trip_keeps_the_ciphertext_out_of_the_row_and_only_ciphertext_in_the_blob(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    assert _get(world.db, job) == SEALED
    digest = hashlib.sha256(SEALED.ciphertext).hexdigest()
    assert _row(world.db, job) == (None, "eu-west", digest, *_KEYS)
    assert _blob(stores, "eu-west").read_bytes() == SEALED.ciphertext


def test_a_job_in_one_region_is_stored_under_its_root_and_never_another_regions(
    world: World, stores: RegionalBlobStores
) -> None:
    european, american = _job_in(world, "eu-west"), _job_in(world, "us-east", side="b")
    _put(world, european, sealed=SealedArtifact(1, b"k", b"n" * 12, b"eu payload"))
    _put(world, american, sealed=SealedArtifact(1, b"k", b"n" * 12, b"us payload"))
    eu_blob, us_blob = _blob(stores, "eu-west"), _blob(stores, "us-east")
    assert european.id in eu_blob.parts
    assert eu_blob.read_bytes() == b"eu payload"
    assert american.id in us_blob.parts
    assert us_blob.read_bytes() == b"us payload"


def test_a_region_without_a_store_is_refused_and_nothing_is_written(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "ap-south")
    with world.db.unit_of_work() as uow:
        with pytest.raises(ResidencyViolation, match="region 'ap-south'"):
            uow.artifacts.put(job.tenant_id, job.id, "circuit", SEALED)
        uow.commit()
    assert _row(world.db, job, "circuit") is None
    for region in stores.regions():
        assert _files(stores.for_region(region).root) == []


def test_another_tenants_job_gets_no_blob_either(world: World, stores: RegionalBlobStores) -> None:
    job = _job_in(world, "eu-west")
    with world.db.unit_of_work() as uow, pytest.raises(NotFound, match=r"^job not found$"):
        uow.artifacts.put(world.b.tenant.id, job.id, "result", SEALED)
    assert _files(stores.for_region("eu-west").root) == []


def test_an_altered_blob_is_an_integrity_error_never_wrong_bytes(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    _blob(stores, "eu-west").write_bytes(b"\x01" + SEALED.ciphertext[1:])
    with pytest.raises(IntegrityError, match="fails its digest"):
        _get(world.db, job)


def test_a_missing_blob_is_an_integrity_error(world: World, stores: RegionalBlobStores) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    _blob(stores, "eu-west").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        _get(world.db, job)


def test_the_collector_removes_only_orphans_past_the_grace_period(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    eu = stores.for_region("eu-west")
    orphan = eu.write(job.tenant_id, job.id, "log", b"no row points here")
    assert world.db.collect_orphan_blobs() == 0  # too young: its put may not have committed yet
    assert world.db.collect_orphan_blobs(now=utcnow() + LATER) == 1
    assert not (eu.root / job.tenant_id / job.id / orphan.name).exists()
    assert _get(world.db, job) == SEALED


def test_a_rolled_back_put_leaves_an_orphan_for_the_collector_never_a_row_without_its_blob(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(job.tenant_id, job.id, "result", SEALED)  # no commit: rolled back
    assert _row(world.db, job) is None
    assert len(_files(stores.for_region("eu-west").root)) == 1
    world.db.collect_orphan_blobs(now=utcnow() + LATER)
    assert _files(stores.for_region("eu-west").root) == []


def test_a_rolled_back_replacement_keeps_the_committed_payload(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(job.tenant_id, job.id, "result", SealedArtifact(1, b"k", b"n", b"new"))
    world.db.collect_orphan_blobs(now=utcnow() + LATER)
    assert _get(world.db, job) == SEALED


def test_retired_artifacts_lose_their_blobs_only_once_the_deletion_commits(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    with world.db.unit_of_work() as uow:
        assert uow.artifacts.delete_for_job(job.tenant_id, job.id) == 1  # no commit: rolled back
    assert world.db.collect_orphan_blobs(now=utcnow() + LATER) == 0
    assert _get(world.db, job) == SEALED
    with world.db.unit_of_work() as uow:
        uow.artifacts.delete_for_job(job.tenant_id, job.id)
        uow.commit()
    assert world.db.collect_orphan_blobs(now=utcnow() + LATER) >= 1
    assert _files(stores.for_region("eu-west").root) == []


def test_the_collector_sees_every_tenants_rows_even_when_called_confined(
    world: World, stores: RegionalBlobStores
) -> None:
    ours, theirs = _job_in(world, "eu-west"), _job_in(world, "eu-west", side="b")
    _put(world, ours)
    _put(world, theirs, sealed=SealedArtifact(1, b"k", b"n" * 12, b"globex payload"))
    with tenant_scope.confined_to(ours.tenant_id):
        assert world.db.collect_orphan_blobs(now=utcnow() + LATER) == 0
    assert _get(world.db, theirs).ciphertext == b"globex payload"


def test_rewrapping_a_blob_row_changes_only_its_wrapped_key(
    world: World, stores: RegionalBlobStores
) -> None:
    hierarchy = KeyHierarchy(KeyProviders(LocalKeyring(_primitives.random_key())))
    job = _job_in(world, "eu-west")
    binding = ArtifactBinding(job.tenant_id, job.project_id, job.id, "result")
    with world.db.unit_of_work() as uow:
        ring = hierarchy.create_ring(uow, job.tenant_id).name
        uow.artifacts.put(job.tenant_id, job.id, "result", hierarchy.seal(uow, b"counts", binding))
        uow.commit()
    blob = _blob(stores, "eu-west").read_bytes()
    with world.db.unit_of_work() as uow:
        hierarchy.rotate(uow, ring)
        assert hierarchy.rewrap(uow, ring) == 1
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert hierarchy.pending_rewrap(uow, ring) == 0
        sealed = uow.artifacts.get(job.tenant_id, job.id, "result")
        assert sealed.kek_version == 2
        assert hierarchy.open(uow, sealed, binding) == b"counts"
    assert _blob(stores, "eu-west").read_bytes() == blob


def test_legacy_inline_rows_still_read_once_blob_stores_exist(
    world: World, database_url: str
) -> None:
    job = _job_in(world, "eu-west")
    before_regions = Database(database_url)  # a deployment before regional blob stores
    try:
        with before_regions.unit_of_work() as uow:
            uow.artifacts.put(job.tenant_id, job.id, "circuit", SEALED)
            uow.commit()
    finally:
        before_regions.dispose()
    assert _row(world.db, job, "circuit") == (SEALED.ciphertext, None, None, *_KEYS)
    assert _get(world.db, job, "circuit") == SEALED


def test_a_job_from_before_regions_keeps_its_payloads_inline(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "")
    _put(world, job)
    assert _row(world.db, job) == (SEALED.ciphertext, None, None, *_KEYS)
    assert _get(world.db, job) == SEALED
    assert all(_files(stores.for_region(r).root) == [] for r in stores.regions())


def test_a_process_without_the_regions_store_cannot_read_its_payloads(
    world: World, database_url: str
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    elsewhere = Database(database_url, blobs=RegionalBlobStores([]))
    try:
        with pytest.raises(ResidencyViolation, match="region 'eu-west'"):
            _get(elsewhere, job)
    finally:
        elsewhere.dispose()


def test_the_sweeper_collects_old_orphans_along_with_its_purge(
    world: World, stores: RegionalBlobStores
) -> None:
    job = _job_in(world, "eu-west")
    _put(world, job)
    orphan = stores.for_region("eu-west").write(job.tenant_id, job.id, "log", b"left behind")
    path = stores.for_region("eu-west").root / job.tenant_id / job.id / orphan.name
    an_hour_and_more_ago = (utcnow() - LATER).timestamp()
    os.utime(path, (an_hour_and_more_ago, an_hour_and_more_ago))
    sweeper = Sweeper(world.db, 3, 30.0, blob_gc=world.db.collect_orphan_blobs)
    assert sweeper.sweep().purged >= 1
    assert not path.exists()
    assert _get(world.db, job) == SEALED
