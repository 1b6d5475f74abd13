"""Choosing the next job: weighted fair share per device, inside quotas, windows and reservations.

Each tenant has its own queue per device (its queued jobs, highest priority
first, then oldest). For each device a worker serves, the scheduler:

1. skips the device while it is busy (an exclusive device, a QPU, runs one
   job at a time, so circuits of two tenants never share the chip) or inside
   a calibration window;
2. inside a reservation, considers only the reserving tenant;
3. orders the waiting tenants by start-time fair queueing over estimated
   device time (`qplane.domain.fair_share`), each weighted by its plan;
4. takes the first tenant with a job that fits: the tenant (and the job's
   project) is under its running and device-time quotas, and the job's
   estimated run ends before the next calibration window and before another
   tenant's reservation.

Across devices, the candidate that has waited longest wins, so no device a
worker serves starves. The choice is charged at once (the tenant's finish
tag moves on by the job's estimated time over its weight) and corrected when
the metered time comes back. The single scheduler row is locked while
choosing, so several API servers take turns rather than racing.

Batches are only ever one tenant's jobs on one device (`next_in_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from qplane.backends.catalogue import BackendCatalogue
from qplane.domain import fair_share
from qplane.domain.backends import BackendInfo
from qplane.domain.calendar import Calendar
from qplane.domain.jobs import Job
from qplane.domain.ports import UnitOfWork
from qplane.domain.quotas import Demand, Quota, Usage, day_start, first_exceeded, weight_of

#: How many of a tenant's queued jobs are looked at for one that fits.
LOOKAHEAD: Final = 20


@dataclass(frozen=True, slots=True)
class Choice:
    """A job picked for a device, with the fair-share start tag it was picked at."""

    job: Job
    backend: BackendInfo
    start_tag: float
    estimated_s: float


class Scheduler:
    """Picks jobs for workers. Stateless: every fact lives in the unit of work's tables."""

    def __init__(self, catalogue: BackendCatalogue) -> None:
        self._catalogue = catalogue

    def estimate(self, job: Job) -> float:
        """The job's expected device time (its stored estimate, or the device's model)."""
        if job.estimated_s is not None:
            return job.estimated_s
        return self._info(job.backend).estimate_seconds(job.shots, job.depth)

    def pick(self, uow: UnitOfWork, backends: Sequence[str], now: datetime) -> Choice | None:
        """Choose (and charge) the next job on one of *backends*, or None."""
        if not backends:
            return None
        uow.scheduler.cursor_for_update()  # schedulers take turns
        best: Choice | None = None
        for name in dict.fromkeys(backends):
            choice = self._pick_on(uow, self._info(name), now)
            if choice is not None and (best is None or _waited_longer(choice.job, best.job)):
                best = choice
        if best is not None:
            self._charge(uow, best)
        return best

    def next_in_batch(
        self, uow: UnitOfWork, first: Choice, after_s: float, now: datetime
    ) -> Choice | None:
        """One more job of *first*'s tenant on *first*'s device for the same batch, or None.

        *after_s* is the device time the batch already holds: the job must
        fit the calendar from the moment it will start, not from now. The
        caller dispatches each job before asking for the next, so the
        tenant's running slots and quotas count the whole batch. A batch
        never holds another tenant's job.
        """
        info, tenant_id = first.backend, first.job.tenant_id
        calendar = uow.calendars.calendar(info.name, now)
        starts = now + timedelta(seconds=after_s)
        found = self._first_fitting(uow, tenant_id, info, calendar, starts, now)
        if found is None:
            return None
        job, seconds = found
        clock = uow.fair_share.clock_for_update(info.name)
        tag = uow.fair_share.finish_tags(info.name, [tenant_id]).get(tenant_id)
        choice = Choice(job, info, fair_share.start_tag(clock, tag), seconds)
        self._charge(uow, choice)
        return choice

    def settle(self, uow: UnitOfWork, job: Job, metered_s: float) -> None:
        """Replace the job's estimated cost by its metered device time in its tenant's tag."""
        estimated = self.estimate(job)
        delta = (metered_s - estimated) / _weight(uow, job.tenant_id)
        uow.fair_share.adjust_finish_tag(job.backend, job.tenant_id, delta)

    # -- one device -------------------------------------------------------
    def _pick_on(self, uow: UnitOfWork, info: BackendInfo, now: datetime) -> Choice | None:
        if info.exclusive and uow.jobs.active_on(info.name) > 0:
            return None
        tenants = uow.jobs.tenants_with_queued([info.name])
        if not tenants:
            return None
        calendar = uow.calendars.calendar(info.name, now)
        if calendar.window_at(now) is not None:
            return None
        reserved = calendar.reservation_at(now)
        if reserved is not None:
            tenants = [t for t in tenants if t == reserved.tenant_id]
        clock = uow.fair_share.clock_for_update(info.name)
        tags = uow.fair_share.finish_tags(info.name, tenants)
        for tag, tenant_id in fair_share.order(tenants, clock, tags):
            found = self._first_fitting(uow, tenant_id, info, calendar, now, now)
            if found is not None:
                job, seconds = found
                return Choice(job, info, tag, seconds)
        return None

    def _first_fitting(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        info: BackendInfo,
        calendar: Calendar,
        starts: datetime,
        now: datetime,
    ) -> tuple[Job, float] | None:
        """The tenant's first queued job that may start at *starts*, with its estimate."""
        tenant = uow.tenants.get(tenant_id)
        if uow.jobs.count_active(tenant_id) >= tenant.max_running_jobs:
            return None
        for job in uow.jobs.queued_on(tenant_id, info.name, LOOKAHEAD):
            seconds = self.estimate(job)
            if calendar.may_start(tenant_id, starts, seconds) and self.within_quotas(
                uow, job, info, seconds, now
            ):
                return job, seconds
        return None

    def within_quotas(
        self, uow: UnitOfWork, job: Job, info: BackendInfo, seconds: float, now: datetime
    ) -> bool:
        """The scheduling-time quota check: a job that no longer fits waits, it is not dropped."""
        kinds = self._catalogue.names_by_kind()
        for project_id in (None, job.project_id):
            quota = uow.quotas.get(job.tenant_id, project_id)
            if quota is None:
                continue
            usage = uow.usage.usage(job.tenant_id, project_id, now, kinds)
            if first_exceeded(quota, _without(usage, job, now), _dispatch(info, job, seconds)):
                return False
        return True

    def _charge(self, uow: UnitOfWork, choice: Choice) -> None:
        name, tenant_id = choice.backend.name, choice.job.tenant_id
        weight = _weight(uow, tenant_id)
        uow.fair_share.set_clock(name, choice.start_tag)
        uow.fair_share.set_finish_tag(
            name, tenant_id, fair_share.charge(choice.start_tag, choice.estimated_s, weight)
        )
        uow.scheduler.set_cursor(tenant_id)

    def _info(self, name: str) -> BackendInfo:
        return self._catalogue.get(name).info


def quota_scopes(uow: UnitOfWork, job: Job) -> list[Quota]:
    """The quotas that bind *job*: its tenant's and its project's, where set."""
    found = [uow.quotas.get(job.tenant_id), uow.quotas.get(job.tenant_id, job.project_id)]
    return [quota for quota in found if quota is not None]


def _dispatch(info: BackendInfo, job: Job, seconds: float) -> Demand:
    # At dispatch the job is already counted as queued and in today's shots:
    # it moves from queued to running and starts using device time.
    return Demand(kind=info.kind, shots=job.shots, seconds=seconds, queued=0, running=1)


def _without(usage: Usage, job: Job, now: datetime) -> Usage:
    """Usage less the job itself (a waiting job already counts in today's shots)."""
    if job.created_at >= day_start(now):
        return replace(usage, shots_today=max(usage.shots_today - job.shots, 0))
    return usage


def _weight(uow: UnitOfWork, tenant_id: str) -> int:
    return weight_of(uow.tenants.get(tenant_id).plan)


def _waited_longer(a: Job, b: Job) -> bool:
    return (a.created_at, a.id) < (b.created_at, b.id)
