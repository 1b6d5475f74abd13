"""Jobs: round trips, history, tenant scope and keyset pagination."""

from __future__ import annotations

import base64
import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from qplane.domain import ids
from qplane.domain.errors import Conflict, NotFound, ValidationFailed
from qplane.domain.jobs import JobState

S = JobState


def test_job_round_trips_with_its_history(world) -> None:
    job = world.job(world.a, S.RUNNING, seed=7, qubits=2, depth=3, attempts=1)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        stored = uow.jobs.get(world.a.tenant.id, job.id)
    assert stored == job
    assert [step.state for step in stored.history] == [
        S.SUBMITTED,
        S.VALIDATED,
        S.QUEUED,
        S.SCHEDULED,
        S.RUNNING,
    ]
    assert all(step.at.tzinfo == UTC for step in stored.history)


def test_other_tenant_job_is_not_found(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow:
        for read in (uow.jobs.get, uow.jobs.get_for_update):
            with pytest.raises(NotFound, match=r"^job not found$"):
                read(world.b.tenant.id, job.id)
        with pytest.raises(NotFound, match=r"^job not found$"):
            uow.jobs.save(replace(job, tenant_id=world.b.tenant.id))


def test_missing_job_is_not_found(world) -> None:
    with world.db.unit_of_work() as uow, pytest.raises(NotFound, match=r"^job not found$"):
        uow.jobs.get(world.a.tenant.id, ids.new_id(ids.JOB))


def test_job_cannot_be_filed_under_another_tenants_project(world) -> None:
    sneaky = replace(world.job(world.a), project_id=world.b.project.id)
    with world.db.unit_of_work() as uow, pytest.raises(NotFound, match=r"^project not found$"):
        uow.jobs.add(sneaky)


def test_save_stores_fields_and_only_the_new_history_steps(world) -> None:
    job = world.job(world.a, S.QUEUED)
    world.add_jobs(job)
    later = world.now()
    moved = replace(
        job.moved_to(S.SCHEDULED, later).moved_to(S.RUNNING, later, reason="picked up"),
        attempts=1,
        tags=("retry",),
    )
    with world.db.unit_of_work() as uow:
        uow.jobs.save(moved)
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.jobs.get(world.a.tenant.id, job.id) == moved


def test_stale_save_is_a_conflict(world) -> None:
    job = world.job(world.a, S.QUEUED)
    world.add_jobs(job)
    first = job.moved_to(S.SCHEDULED, world.now())
    second = job.moved_to(S.CANCELLED, world.now())
    with world.db.unit_of_work() as uow:
        uow.jobs.save(first)
        uow.commit()
    with world.db.unit_of_work() as uow:
        with pytest.raises(Conflict, match="changed by someone else"):
            uow.jobs.save(second)  # races first to the same next step
        with pytest.raises(Conflict, match="changed by someone else"):
            uow.jobs.save(job)  # shorter history than stored
        assert uow.jobs.get(world.a.tenant.id, job.id) == first


def test_duplicate_job_id_is_a_conflict(world) -> None:
    job = world.job(world.a)
    world.add_jobs(job)
    with world.db.unit_of_work() as uow, pytest.raises(Conflict):
        uow.jobs.add(job)


def page_all(world, side, limit, states=None):
    """Every job of the side's project, following cursors page by page."""
    pages, cursor = [], None
    while True:
        with world.db.unit_of_work() as uow:
            page = uow.jobs.page(side.tenant.id, side.project.id, states, limit, cursor)
        pages.append([job.id for job in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_pages_are_newest_first_and_cover_every_job_once(world) -> None:
    jobs = [world.job(world.a) for _ in range(5)]
    world.add_jobs(*jobs, world.job(world.b))
    newest_first = [job.id for job in reversed(jobs)]
    assert page_all(world, world.a, 2) == [newest_first[:2], newest_first[2:4], newest_first[4:]]


def test_jobs_created_at_the_same_instant_are_paged_by_id(world) -> None:
    same = world.now()
    jobs = [world.job(world.a, at=same) for _ in range(5)]
    world.add_jobs(*jobs)
    pages = page_all(world, world.a, 2)
    assert list(itertools.chain(*pages)) == sorted((job.id for job in jobs), reverse=True)


def test_a_full_last_page_has_no_next_cursor(world) -> None:
    world.add_jobs(world.job(world.a), world.job(world.a))
    assert [len(page) for page in page_all(world, world.a, 2)] == [2]


def test_pages_filter_by_state(world) -> None:
    queued, running = world.job(world.a, S.QUEUED), world.job(world.a, S.RUNNING)
    world.add_jobs(queued, running, world.job(world.a, S.FAILED))
    active = frozenset({S.QUEUED, S.RUNNING})
    assert page_all(world, world.a, 10, active) == [[running.id, queued.id]]
    assert page_all(world, world.a, 10, frozenset()) == [[]]


def test_page_of_another_tenants_project_is_empty(world) -> None:
    world.add_jobs(world.job(world.a))
    with world.db.unit_of_work() as uow:
        page = uow.jobs.page(world.b.tenant.id, world.a.project.id, None, 10, None)
    assert page.items == []
    assert page.next_cursor is None


@pytest.mark.parametrize(("asked", "served"), [(0, 1), (-5, 1), (1000, 200)])
def test_page_limit_is_clamped(world, asked: int, served: int) -> None:
    world.add_jobs(*(world.job(world.a) for _ in range(201 if served == 200 else 2)))
    with world.db.unit_of_work() as uow:
        page = uow.jobs.page(world.a.tenant.id, world.a.project.id, None, asked, None)
    assert len(page.items) == served
    assert page.next_cursor is not None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        b64(b"\xff\xfe"),
        b64(b'{"not": "a list"}'),
        b64(b'["2025-01-01T00:00:00+00:00"]'),
        b64(b'["2025-01-01T00:00:00", "job_x"]'),  # naive time
        b64(b'["yesterday", "job_x"]'),
        b64(b'["2025-01-01T00:00:00+00:00", 5]'),
        "",
    ],
)
def test_illegal_page_cursor_is_a_validation_error(world, cursor: str) -> None:
    with world.db.unit_of_work() as uow, pytest.raises(ValidationFailed, match="cursor"):
        uow.jobs.page(world.a.tenant.id, world.a.project.id, None, 10, cursor)


def test_count_active_counts_scheduled_and_running_of_the_tenant(world) -> None:
    world.add_jobs(
        world.job(world.a, S.SCHEDULED),
        world.job(world.a, S.RUNNING),
        world.job(world.a, S.QUEUED),
        world.job(world.a, S.SUCCEEDED),
        world.job(world.b, S.RUNNING),
    )
    with world.db.unit_of_work() as uow:
        assert uow.jobs.count_active(world.a.tenant.id) == 2
        assert uow.jobs.count_active(world.b.tenant.id) == 1


def test_retirable_lists_finished_jobs_changed_before_the_cutoff(world) -> None:
    old = datetime(2024, 1, 1, tzinfo=UTC)
    finished = [world.job(world.a, state, at=old) for state in (S.VERIFIED, S.FAILED)]
    unfinished = world.job(world.a, S.RUNNING, at=old)
    retired = world.job(world.a, S.RETIRED, at=old)
    recent = world.job(world.b, S.CANCELLED)
    world.add_jobs(*finished, unfinished, retired, recent)
    with world.db.unit_of_work() as uow:
        found = uow.jobs.retirable(datetime(2024, 6, 1, tzinfo=UTC), limit=10)
        assert sorted(found) == sorted((job.tenant_id, job.id) for job in finished)
        assert len(uow.jobs.retirable(datetime(2030, 1, 1, tzinfo=UTC), limit=1)) == 1
