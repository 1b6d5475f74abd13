"""Usage, read from the jobs themselves: what counts against a tenant's quotas.

Computed from the job rows rather than kept in counters, so usage can never
drift from what actually ran, and a rolled-back submission never counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, or_, select

from qplane.domain.backends import BackendKind
from qplane.domain.jobs import ACTIVE, JobState
from qplane.domain.quotas import Usage, day_start, month_start
from qplane.store.models import JobRow
from qplane.store.repositories._base import Repository

_ACTIVE: Final = sorted(state.value for state in ACTIVE)
_WAITING: Final = sorted(
    state.value for state in (JobState.SUBMITTED, JobState.VALIDATED, JobState.QUEUED)
)


class SqlUsageRepository(Repository):
    def usage(
        self,
        tenant_id: str,
        project_id: str | None,
        now: datetime,
        backends: Mapping[BackendKind, Sequence[str]],
    ) -> Usage:
        """The tenant's (or one project's) use in the current day and month (UTC).

        Shots count for jobs submitted today that are waiting or were ever
        dispatched (a rejected job, or one cancelled before it ran, costs
        nothing). Device time counts, per backend kind, the metered time of
        jobs dispatched this month, or their estimate while it is not known.
        """
        scope: list[Any] = [JobRow.tenant_id == tenant_id]
        if project_id is not None:
            scope.append(JobRow.project_id == project_id)
        running = self._count(*scope, JobRow.state.in_(_ACTIVE))
        queued = self._count(*scope, JobRow.state.in_(_WAITING))
        shots = self._session.scalar(
            select(func.coalesce(func.sum(JobRow.shots), 0)).where(
                *scope,
                JobRow.created_at >= day_start(now),
                or_(JobRow.dispatched_at.is_not(None), JobRow.state.in_(_WAITING)),
            )
        )
        seconds = {
            kind: self._seconds(scope, month_start(now), names) for kind, names in backends.items()
        }
        return Usage(
            running_jobs=running,
            queued_jobs=queued,
            shots_today=int(shots or 0),
            qpu_seconds_this_month=seconds.get(BackendKind.QPU, 0.0),
            simulator_seconds_this_month=seconds.get(BackendKind.SIMULATOR, 0.0),
        )

    def _count(self, *where: Any) -> int:
        return int(self._session.scalar(select(func.count()).where(*where)) or 0)

    def _seconds(self, scope: list[Any], since: datetime, backends: Sequence[str]) -> float:
        if not backends:
            return 0.0
        metered = func.coalesce(JobRow.device_seconds, JobRow.estimated_s, 0.0)
        total = self._session.scalar(
            select(func.coalesce(func.sum(metered), 0.0)).where(
                *scope, JobRow.dispatched_at >= since, JobRow.backend.in_(list(backends))
            )
        )
        return float(total or 0.0)
