"""Sealed artifacts and wrapped tenant keys: stored byte for byte, scoped by tenant."""

from __future__ import annotations

import pytest

from qplane.domain import ids
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.ports import SealedArtifact

SEALED = SealedArtifact(
    kek_version=1, wrapped_key=b"\x00wrapped\xff", nonce=b"n" * 12, ciphertext=bytes(range(256))
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


def test_tenant_keys_are_versioned(world) -> None:
    tenant_id = world.a.tenant.id
    with world.db.unit_of_work() as uow:
        assert uow.tenant_keys.latest(tenant_id) is None
        uow.tenant_keys.add(tenant_id, 1, b"kek-1")
        uow.tenant_keys.add(tenant_id, 2, b"kek-2")
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.tenant_keys.latest(tenant_id) == (2, b"kek-2")
        assert uow.tenant_keys.get(tenant_id, 1) == b"kek-1"
        assert uow.tenant_keys.get(tenant_id, 3) is None
        assert uow.tenant_keys.get(world.b.tenant.id, 1) is None
        assert uow.tenant_keys.latest(world.b.tenant.id) is None


def test_racing_key_rotations_conflict(world) -> None:
    with world.db.unit_of_work() as uow:
        uow.tenant_keys.add(world.a.tenant.id, 1, b"kek-1")
        with pytest.raises(Conflict, match="key version already exists"):
            uow.tenant_keys.add(world.a.tenant.id, 1, b"other")
        with pytest.raises(NotFound, match="tenant not found"):
            uow.tenant_keys.add(ids.new_id(ids.TENANT), 1, b"kek")
