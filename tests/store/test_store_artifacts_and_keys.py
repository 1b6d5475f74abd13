"""Sealed artifacts and wrapped tenant keys: stored byte for byte, scoped by tenant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.store.conftest import EPOCH

from qplane.domain import ids
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.keys import KekState, KekVersion, KeyRing, ring_name
from qplane.domain.ports import SealedArtifact

SEALED = SealedArtifact(
    kek_version=1,
    wrapped_key=b"\x00wrapped\xff",
    nonce=b"n" * 12,
    ciphertext=bytes(range(256)),
    kek_ring="ten_x/*",
)


def test_artifact_round_trips_byte_for_byte(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(world.a.tenant.id, job.id, "circuit", SEALED)
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.artifacts.get(world.a.tenant.id, job.id, "circuit") == SEALED


def test_putting_an_artifact_again_replaces_it(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    rewrapped = SealedArtifact(2, b"rewrapped", SEALED.nonce, SEALED.ciphertext)
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(world.a.tenant.id, job.id, "result", SEALED)
        uow.artifacts.put(world.a.tenant.id, job.id, "result", rewrapped)
        assert uow.artifacts.get(world.a.tenant.id, job.id, "result") == rewrapped


def test_other_tenant_artifact_is_not_found(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        uow.artifacts.put(world.a.tenant.id, job.id, "circuit", SEALED)
        with pytest.raises(NotFound, match=r"^artifact not found$"):
            uow.artifacts.get(world.b.tenant.id, job.id, "circuit")
        with pytest.raises(NotFound, match=r"^artifact not found$"):
            uow.artifacts.get(world.a.tenant.id, job.id, "result")


def test_artifact_cannot_be_put_on_another_tenants_job(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        with pytest.raises(NotFound, match=r"^job not found$"):
            uow.artifacts.put(world.b.tenant.id, job.id, "circuit", SEALED)
        with pytest.raises(NotFound, match=r"^job not found$"):
            uow.artifacts.put(world.a.tenant.id, ids.new_id(ids.JOB), "circuit", SEALED)


def test_deleting_a_jobs_artifacts_counts_them_and_spares_other_tenants(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        for kind in ("circuit", "result"):
            uow.artifacts.put(world.a.tenant.id, job.id, kind, SEALED)
        assert uow.artifacts.delete_for_job(world.b.tenant.id, job.id) == 0
        assert uow.artifacts.delete_for_job(world.a.tenant.id, job.id) == 2
        assert uow.artifacts.delete_for_job(world.a.tenant.id, job.id) == 0


def _ring(tenant_id: str, project_id: str | None = None) -> KeyRing:
    return KeyRing(
        ring_name(tenant_id, project_id), tenant_id, project_id, "default", "local", EPOCH
    )


def _kek(ring: KeyRing, version: int, material: bytes | None) -> KekVersion:
    return KekVersion(ring.name, version, KekState.ACTIVE, EPOCH, material)


def test_key_versions_are_numbered_per_ring_and_hold_only_material(world) -> None:
    ring = _ring(world.a.tenant.id)
    with world.db.unit_of_work() as uow:
        assert uow.key_rings.ring(ring.name) is None
        uow.key_rings.add_ring(ring)
        assert uow.key_rings.latest(ring.name) is None
        uow.key_rings.add_version(ring, _kek(ring, 1, b"material-1"))
        uow.key_rings.add_version(ring, _kek(ring, 2, b"material-2"))
        uow.commit()
    with world.db.unit_of_work() as uow:
        latest = uow.key_rings.latest(ring.name)
        assert latest is not None
        assert (latest.version, latest.material) == (2, b"material-2")
        assert [k.version for k in uow.key_rings.versions(ring.name)] == [1, 2]
        assert uow.key_rings.version(ring.name, 3) is None
        assert uow.key_rings.rings(world.a.tenant.id) == [ring]
        assert uow.key_rings.rings(world.b.tenant.id) == []
        assert uow.key_rings.rotated() == [ring.name]


def test_erased_versions_stop_being_the_latest(world) -> None:
    ring = _ring(world.a.tenant.id)
    with world.db.unit_of_work() as uow:
        uow.key_rings.add_ring(ring)
        uow.key_rings.add_version(ring, _kek(ring, 1, b"m1"))
        uow.key_rings.add_version(ring, _kek(ring, 2, b"m2"))
        uow.key_rings.update_version(
            replace(_kek(ring, 2, None), state=KekState.DESTROYED, retired_at=EPOCH)
        )
        uow.commit()
    with world.db.unit_of_work() as uow:
        latest = uow.key_rings.latest(ring.name)
        assert latest is not None
        assert latest.version == 1
        destroyed = uow.key_rings.version(ring.name, 2)
        assert destroyed is not None
        assert (destroyed.state, destroyed.material) == (KekState.DESTROYED, None)
        assert uow.key_rings.rotated() == []


def test_racing_key_rotations_conflict(world) -> None:
    ring = _ring(world.a.tenant.id)
    with world.db.unit_of_work() as uow:
        uow.key_rings.add_ring(ring)
        uow.key_rings.add_version(ring, _kek(ring, 1, b"kek-1"))
        with pytest.raises(Conflict, match="key version already exists"):
            uow.key_rings.add_version(ring, _kek(ring, 1, b"other"))
        with pytest.raises(Conflict, match="key ring already exists"):
            uow.key_rings.add_ring(ring)
