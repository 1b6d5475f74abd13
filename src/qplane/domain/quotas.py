"""Quotas: how much of the platform a tenant, and each of its projects, may use.

A quota is a set of optional limits (None: unlimited). Each is checked at
submission, so a tenant learns at once that a job cannot run and when the
limit resets, and again when the scheduler picks a job, because a limit may
have been lowered, or the tenant's other jobs may have used it up, while the
job waited. A job that no longer fits waits; it is never dropped.

Periods are calendar periods in UTC: shots per day reset at midnight,
device-seconds per month on the first of the month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from qplane.domain.backends import BackendKind
from qplane.domain.errors import QuotaExceeded, ValidationFailed

#: Fair-share weight per plan: a tenant on ``premium`` gets four times the
#: device time of one on ``standard`` when both wait for the same device.
PLAN_WEIGHTS: Final[dict[str, int]] = {"free": 1, "standard": 2, "premium": 8}
DEFAULT_PLAN: Final = "standard"


class Limit(StrEnum):
    RUNNING_JOBS = "running_jobs"
    QUEUED_JOBS = "queued_jobs"
    SHOTS_PER_DAY = "shots_per_day"
    QPU_SECONDS_PER_MONTH = "qpu_seconds_per_month"
    SIMULATOR_SECONDS_PER_MONTH = "simulator_seconds_per_month"


@dataclass(frozen=True, slots=True)
class Quota:
    """Limits for a whole tenant (``project_id`` None) or for one of its projects."""

    tenant_id: str
    project_id: str | None = None
    running_jobs: int | None = None
    queued_jobs: int | None = None
    shots_per_day: int | None = None
    qpu_seconds_per_month: float | None = None
    simulator_seconds_per_month: float | None = None

    def limit(self, which: Limit) -> float | None:
        value: float | None = getattr(self, which.value)
        return value

    def seconds_limit(self, kind: BackendKind) -> float | None:
        return self.limit(seconds_limit_for(kind))


@dataclass(frozen=True, slots=True)
class Usage:
    """What a tenant or project has used in the current periods."""

    running_jobs: int = 0
    queued_jobs: int = 0
    shots_today: int = 0
    qpu_seconds_this_month: float = 0.0
    simulator_seconds_this_month: float = 0.0

    def seconds(self, kind: BackendKind) -> float:
        if kind is BackendKind.QPU:
            return self.qpu_seconds_this_month
        return self.simulator_seconds_this_month


def seconds_limit_for(kind: BackendKind) -> Limit:
    if kind is BackendKind.QPU:
        return Limit.QPU_SECONDS_PER_MONTH
    return Limit.SIMULATOR_SECONDS_PER_MONTH


def plan_weight(plan: str) -> int:
    """The fair-share weight of *plan*; raises `ValidationFailed` for an unknown plan."""
    try:
        return PLAN_WEIGHTS[plan]
    except KeyError:
        raise ValidationFailed(
            f"unknown plan {plan[:40]!r}", field="plan", allowed=sorted(PLAN_WEIGHTS)
        ) from None


def weight_of(plan: str) -> int:
    """A stored tenant's weight: the smallest for a plan since removed from the table."""
    return PLAN_WEIGHTS.get(plan, 1)


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def resets_at(which: Limit, now: datetime) -> datetime | None:
    """When *which* frees up by itself: the next period, or None for job counts."""
    if which is Limit.SHOTS_PER_DAY:
        return day_start(now) + timedelta(days=1)
    if which in (Limit.QPU_SECONDS_PER_MONTH, Limit.SIMULATOR_SECONDS_PER_MONTH):
        start = month_start(now)
        return (start + timedelta(days=32)).replace(day=1)
    return None


@dataclass(frozen=True, slots=True)
class Demand:
    """What one job would add: a queued (or running) job, its shots and its device time."""

    kind: BackendKind
    shots: int
    seconds: float
    queued: int = 1
    running: int = 0


def first_exceeded(quota: Quota, usage: Usage, demand: Demand) -> tuple[Limit, float, float] | None:
    """The first limit *demand* would break, with its limit and current use; None if it fits."""
    checks: list[tuple[Limit, float, float]] = [
        (Limit.RUNNING_JOBS, usage.running_jobs, demand.running),
        (Limit.QUEUED_JOBS, usage.queued_jobs, demand.queued),
        (Limit.SHOTS_PER_DAY, usage.shots_today, demand.shots),
        (seconds_limit_for(demand.kind), usage.seconds(demand.kind), demand.seconds),
    ]
    for which, used, adds in checks:
        limit = quota.limit(which)
        if limit is not None and adds > 0 and used + adds > limit:
            return which, limit, used
    return None


def check(quota: Quota, usage: Usage, demand: Demand, now: datetime) -> None:
    """Raise `QuotaExceeded` naming the limit, its scope, the use and the reset time."""
    exceeded = first_exceeded(quota, usage, demand)
    if exceeded is None:
        return
    which, limit, used = exceeded
    scope = "tenant" if quota.project_id is None else "project"
    reset = resets_at(which, now)
    extensions: dict[str, object] = {
        "limit": which.value,
        "scope": scope,
        "allowed": _number(limit),
        "used": _number(used),
    }
    if reset is not None:
        extensions["resets_at"] = reset.isoformat()
    when = f"; it resets at {reset.isoformat()}" if reset is not None else ""
    raise QuotaExceeded(
        f"the {scope}'s {which.value.replace('_', ' ')} quota ({_number(limit)}) "
        f"would be exceeded: {_number(used)} already used{when}",
        **extensions,
    )


def validate(quota: Quota) -> Quota:
    """Limits are non-negative numbers (0 blocks entirely); None means unlimited."""
    for which in Limit:
        value = quota.limit(which)
        if value is not None and (value < 0 or value > 10**12):
            raise ValidationFailed(
                f"{which.value} must be between 0 and 10^12, or unset", field=which.value
            )
    return quota


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)
