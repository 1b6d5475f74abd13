"""The scheduler's queries and locks: queued work per tenant, and taking turns."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from qplane.domain.jobs import JobState

S = JobState


def test_tenants_with_queued_are_sorted_and_filtered_by_backend(world) -> None:
    world.add_jobs(
        world.job(world.a, S.QUEUED, backend="fake_qpu"),
        world.job(world.b, S.QUEUED),
        world.job(world.b, S.RUNNING, backend="fake_qpu"),
    )
    expected = sorted([world.a.tenant.id, world.b.tenant.id])
    with world.db.unit_of_work() as uow:
        assert uow.jobs.tenants_with_queued(["aer_simulator", "fake_qpu"]) == expected
        assert uow.jobs.tenants_with_queued(["fake_qpu"]) == [world.a.tenant.id]
        assert uow.jobs.tenants_with_queued(["other"]) == []
        assert uow.jobs.tenants_with_queued([]) == []


def test_next_queued_is_the_tenants_oldest_on_the_backends(world) -> None:
    oldest_elsewhere = world.job(world.a, S.QUEUED, backend="other")
    oldest = world.job(world.a, S.QUEUED)
    world.add_jobs(
        world.job(world.b, S.QUEUED),  # another tenant's, even older
        oldest_elsewhere,
        world.job(world.a, S.RUNNING),
        oldest,
        world.job(world.a, S.QUEUED, backend="fake_qpu"),
    )
    with world.db.unit_of_work() as uow:
        assert uow.jobs.next_queued(world.a.tenant.id, ["aer_simulator", "fake_qpu"]) == oldest
        assert uow.jobs.next_queued(world.a.tenant.id, ["missing"]) is None
        assert uow.jobs.next_queued(world.a.tenant.id, []) is None


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_concurrent_next_queued_never_returns_same_job(world) -> None:
    jobs = [world.job(world.a, S.QUEUED) for _ in range(3)]
    world.add_jobs(*jobs)
    backends = ["aer_simulator"]
    with world.db.unit_of_work() as first, world.db.unit_of_work() as second:
        taken_first = first.jobs.next_queued(world.a.tenant.id, backends)
        taken_second = second.jobs.next_queued(world.a.tenant.id, backends)
        assert taken_first is not None
        assert taken_second is not None
        assert [taken_first.id, taken_second.id] == [jobs[0].id, jobs[1].id]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_job_read_for_update_stays_locked_until_the_unit_of_work_ends(world, impatient) -> None:
    job = world.job(world.a, S.QUEUED)
    world.add_jobs(job)
    with world.db.unit_of_work() as holder:
        holder.jobs.get_for_update(world.a.tenant.id, job.id)
        with impatient.unit_of_work() as other:
            assert other.jobs.get(world.a.tenant.id, job.id) == job  # plain reads don't wait
            with pytest.raises(OperationalError, match="lock timeout"):
                other.jobs.get_for_update(world.a.tenant.id, job.id)
    with world.db.unit_of_work() as later:
        assert later.jobs.get_for_update(world.a.tenant.id, job.id) == job


def test_scheduler_cursor_starts_empty_and_remembers_the_last_tenant(world) -> None:
    with world.db.unit_of_work() as uow:
        assert uow.scheduler.cursor_for_update() is None
        uow.scheduler.set_cursor(world.b.tenant.id)
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.scheduler.cursor_for_update() == world.b.tenant.id


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_schedulers_take_turns_on_the_cursor(world, impatient) -> None:
    with world.db.unit_of_work() as first:
        first.scheduler.cursor_for_update()
        with impatient.unit_of_work() as second, pytest.raises(OperationalError, match="lock"):
            second.scheduler.cursor_for_update()
