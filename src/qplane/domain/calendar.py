"""A device's calendar: calibration windows and reservations.

Both are half-open intervals ``[starts_at, ends_at)`` on one backend.

* A calibration window takes the device out of service: it runs nothing, and
  a job is only started when its estimated run ends before the next window.
* A reservation gives one tenant the device exclusively: inside it only that
  tenant's jobs start; outside it the reservation holds nothing back, except
  that another tenant's job is not started if it would still be running when
  the reservation begins.

Tenants see the windows and, of reservations, only their own and the fact that
the device is unavailable: never whose reservation it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from qplane.domain.errors import ValidationFailed

#: The longest window or reservation that may be booked in one go.
MAX_SPAN: Final = timedelta(days=31)


class WindowKind(StrEnum):
    CALIBRATION = "calibration"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class DeviceWindow:
    """A time the device runs nothing (calibration or maintenance)."""

    id: str
    backend: str
    starts_at: datetime
    ends_at: datetime
    kind: WindowKind = WindowKind.CALIBRATION
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """An exclusive window on a device for one tenant (dedicated device time)."""

    id: str
    backend: str
    tenant_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None = None


def covers(starts_at: datetime, ends_at: datetime, at: datetime) -> bool:
    return starts_at <= at < ends_at


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def check_span(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """A bookable span: in the future (or now), ends after it starts, at most `MAX_SPAN`."""
    if ends_at <= starts_at:
        raise ValidationFailed("ends_at must be after starts_at", field="ends_at")
    if ends_at - starts_at > MAX_SPAN:
        raise ValidationFailed("a window may last at most 31 days", field="ends_at")
    if ends_at <= now:
        raise ValidationFailed("the window is already over", field="ends_at")


@dataclass(frozen=True, slots=True)
class Calendar:
    """What the scheduler needs of one device's calendar around now."""

    windows: tuple[DeviceWindow, ...] = ()
    reservations: tuple[Reservation, ...] = ()

    def window_at(self, at: datetime) -> DeviceWindow | None:
        return next((w for w in self.windows if covers(w.starts_at, w.ends_at, at)), None)

    def reservation_at(self, at: datetime) -> Reservation | None:
        return next((r for r in self.reservations if covers(r.starts_at, r.ends_at, at)), None)

    def may_start(self, tenant_id: str, at: datetime, seconds: float) -> bool:
        """Whether a job of *tenant_id* estimated to take *seconds* may start at *at*.

        The run ``[at, at + seconds)`` must miss every window, and every
        reservation of another tenant. Inside its own reservation a tenant's
        job may start whenever it likes, even one that would run past the
        reservation's end (the time is the tenant's; cutting the job off
        would waste it).
        """
        end = at + timedelta(seconds=max(seconds, 0.0))
        if any(overlaps(at, end, w.starts_at, w.ends_at) for w in self.windows):
            return False
        active = self.reservation_at(at)
        if active is not None and active.tenant_id != tenant_id:
            return False
        return not any(
            overlaps(at, end, r.starts_at, r.ends_at)
            for r in self.reservations
            if r.tenant_id != tenant_id
        )

    def next_free(self, tenant_id: str, at: datetime, seconds: float) -> datetime:
        """The earliest time at or after *at* when such a job may start (for estimates)."""
        candidate = at
        blocks = sorted(
            [(w.starts_at, w.ends_at) for w in self.windows]
            + [(r.starts_at, r.ends_at) for r in self.reservations if r.tenant_id != tenant_id]
        )
        for _ in range(len(blocks) + 1):
            if self.may_start(tenant_id, candidate, seconds):
                return candidate
            later = [end for start, end in blocks if end > candidate]
            if not later:
                break
            candidate = min(later)
        return candidate
