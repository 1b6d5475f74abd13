"""Where a tenant's queued job stands, told from the tenant's own facts only.

Publishing a global queue depth, or other tenants' job counts, would let a
tenant watch its neighbours' activity on a shared device. So the position
is the job's place among the tenant's *own* queued jobs on that device, and
the estimated start is the earliest the job could start given the tenant's
own work ahead of it and the device's calendar (windows, and other
tenants' reservations as anonymous unavailable time). It is a lower bound,
coarsened, and it does not move when other tenants submit or finish.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.reservations import device_calendar
from qplane.broker.scheduler import Scheduler
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.jobs import Job, JobState
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.scheduling import QueuePosition, coarsen_up
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer

#: How many of the tenant's own queued jobs are counted for a position.
MAX_COUNTED = 1000


class QueueView:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        catalogue: BackendCatalogue,
        authorizer: Authorizer,
        *,
        granularity_s: float,
    ) -> None:
        self._uow = uow_factory
        self._catalogue = catalogue
        self._scheduler = Scheduler(catalogue)
        self._authz = authorizer
        self._granularity = max(granularity_s, 1.0)

    def position(self, actor: Actor, job_id: str) -> QueuePosition:
        """The job's position among its tenant's own queued jobs, and an estimated start.

        Raises `Conflict` when the job is no longer queued.
        """
        if actor.tenant_id is None:
            raise NotFound("job not found")
        now = utcnow()
        with self._uow() as uow:
            job = uow.jobs.get(actor.tenant_id, job_id)
            self._authz.authorize(
                uow,
                actor,
                Action.JOB_READ,
                facts.job_in(uow, self._catalogue, job),
                missing="job not found",
            )
            if job.state is not JobState.QUEUED:
                raise Conflict(f"job is {job.state.value}, not queued", state=job.state.value)
            own = uow.jobs.queued_on(job.tenant_id, job.backend, MAX_COUNTED)
            ahead = _ahead_of(job, own)
            work = sum(self._scheduler.estimate(other) for other in ahead)
            waiting_for = self._waiting_for(uow, job, now)
        calendar = device_calendar(self._uow, job.backend, now)
        seconds = self._scheduler.estimate(job)
        start = calendar.next_free(job.tenant_id, now + timedelta(seconds=work), seconds)
        if waiting_for is None:
            if calendar.window_at(now) is not None:
                waiting_for = "calibration-window"
            elif (held := calendar.reservation_at(now)) and held.tenant_id != job.tenant_id:
                waiting_for = "reservation"
        return QueuePosition(
            job_id=job.id,
            backend=job.backend,
            position=len(ahead) + 1,
            estimated_start=coarsen_up(as_utc(start), self._granularity),
            waiting_for=waiting_for,
        )

    def _waiting_for(self, uow: UnitOfWork, job: Job, now: datetime) -> str | None:
        """Limits of the tenant's own that hold the job back (running slots, quotas)."""
        tenant = uow.tenants.get(job.tenant_id)
        if uow.jobs.count_active(job.tenant_id) >= tenant.max_running_jobs:
            return "running-limit"
        info = self._catalogue.get(job.backend).info
        if not self._scheduler.within_quotas(uow, job, info, self._scheduler.estimate(job), now):
            return "quota"
        return None


def _ahead_of(job: Job, own: list[Job]) -> list[Job]:
    ahead: list[Job] = []
    for other in own:
        if other.id == job.id:
            return ahead
        ahead.append(other)
    return ahead
