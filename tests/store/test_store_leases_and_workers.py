"""Workers and their job leases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from qplane.domain import ids
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.workers import JobLease, WorkerRecord

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def lease_for(world, job, *, expires_in: float = 30.0) -> JobLease:
    return JobLease(
        id=ids.new_id(ids.LEASE),
        job_id=job.id,
        tenant_id=job.tenant_id,
        worker_id=world.worker.id,
        created_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
    )


def test_worker_round_trips(world) -> None:
    with world.db.unit_of_work() as uow:
        assert uow.workers.get(world.worker.id) == world.worker
        assert uow.workers.by_name("worker-1") == world.worker
        assert uow.workers.by_name("nobody") is None
        assert uow.workers.list_all() == [world.worker]


def test_duplicate_worker_name_is_a_conflict(world) -> None:
    twin = replace(world.worker, id=ids.new_id(ids.WORKER))
    with world.db.unit_of_work() as uow, pytest.raises(Conflict, match="name already exists"):
        uow.workers.add(twin)


def test_missing_worker_is_not_found(world) -> None:
    with world.db.unit_of_work() as uow, pytest.raises(NotFound, match="worker not found"):
        uow.workers.get(ids.new_id(ids.WORKER))


def test_workers_are_listed_by_name(database) -> None:
    def worker(name: str) -> WorkerRecord:
        return WorkerRecord(ids.new_id(ids.WORKER), name, "{}", (), T0, disabled=True)

    with database.unit_of_work() as uow:
        uow.workers.add(worker("zz"))
        uow.workers.add(worker("aa"))
        assert [w.name for w in uow.workers.list_all()] == ["aa", "zz"]
        assert uow.workers.list_all()[0].disabled


def test_lease_round_trips(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    lease = lease_for(world, job)
    with world.db.unit_of_work() as uow:
        uow.leases.add(lease)
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.leases.get(lease.id) == lease
        assert uow.leases.for_job(job.id) == lease
        assert uow.leases.for_job(ids.new_id(ids.JOB)) is None


def test_a_job_has_at_most_one_lease(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        uow.leases.add(lease_for(world, job))
        with pytest.raises(Conflict, match="already leased"):
            uow.leases.add(lease_for(world, job))


def test_lease_must_name_a_job_of_its_tenant(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow, pytest.raises(NotFound):
        uow.leases.add(replace(lease_for(world, job), tenant_id=world.b.tenant.id))


def test_lease_can_be_renewed_and_released(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    lease = lease_for(world, job)
    later = T0 + timedelta(minutes=5)
    with world.db.unit_of_work() as uow:
        uow.leases.add(lease)
        uow.leases.renew(lease.id, later)
        assert uow.leases.get(lease.id).expires_at == later
        uow.leases.delete(lease.id)
        with pytest.raises(NotFound, match="lease not found"):
            uow.leases.get(lease.id)
        with pytest.raises(NotFound, match="lease not found"):
            uow.leases.renew(lease.id, later)
        with pytest.raises(NotFound, match="lease not found"):
            uow.leases.delete(lease.id)


def test_expired_leases_are_listed_oldest_first(world) -> None:
    jobs = [world.job(world.a), world.job(world.b), world.job(world.a)]
    world.add_jobs(*jobs)
    leases = [
        lease_for(world, job, expires_in=s) for job, s in zip(jobs, (20, 10, 90), strict=True)
    ]
    with world.db.unit_of_work() as uow:
        for lease in leases:
            uow.leases.add(lease)
        now = T0 + timedelta(seconds=60)
        assert uow.leases.expired(now, limit=10) == [leases[1], leases[0]]
        assert uow.leases.expired(now, limit=1) == [leases[1]]
