"""Device calendars: reservations (dedicated device time) and maintenance windows.

Operators book a tenant an exclusive window on a device and may take a
device out for maintenance; the platform plans calibration windows itself
(`qplane.broker.calibration`). A tenant sees every device's windows, its own
reservations, and only the fact that a device is reserved by someone else:
never who holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from qplane.backends.catalogue import BackendCatalogue
from qplane.broker.auditing import audit
from qplane.domain import ids, tenant_scope
from qplane.domain.calendar import (
    Calendar,
    DeviceWindow,
    Reservation,
    WindowKind,
    check_span,
    overlaps,
)
from qplane.domain.calibration import Calibration
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.ports import UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer

MAX_REASON: Final = 500


@dataclass(frozen=True, slots=True)
class Busy:
    """A span a tenant sees as unavailable: a window, or someone else's reservation."""

    starts_at: datetime
    ends_at: datetime
    kind: str  # "calibration", "maintenance" or "reserved"


@dataclass(frozen=True, slots=True)
class DeviceCalendar:
    """One device's calendar as a tenant may see it."""

    backend: str
    unavailable: tuple[Busy, ...]
    own_reservations: tuple[Reservation, ...]
    calibration_id: str | None
    calibrated_at: datetime | None
    calibration_summary: dict[str, float | None]


class ReservationService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, catalogue: BackendCatalogue, authorizer: Authorizer
    ) -> None:
        self._uow = uow_factory
        self._catalogue = catalogue
        self._authz = authorizer

    def reserve(
        self,
        actor: Actor,
        tenant_id: str,
        backend: str,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
    ) -> Reservation:
        """Give *tenant_id* the device alone from *starts_at* to *ends_at* (operators).

        Raises `Conflict` when it overlaps another live reservation of the
        device, `ValidationFailed` for a shared backend, a bad span or no reason.
        """
        starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
        now = utcnow()
        self._exclusive_device(backend)
        check_span(starts_at, ends_at, now)
        reason = _reason(reason)
        with self._uow() as uow:
            self._authz.authorize_on_tenant(uow, actor, Action.RESERVATION_MANAGE, tenant_id)
            uow.scheduler.cursor_for_update()  # bookings of one device take turns
            for other in uow.calendars.reservations(backend=backend, ending_after=now):
                if overlaps(starts_at, ends_at, other.starts_at, other.ends_at):
                    raise Conflict(
                        "the device is already reserved in that time",
                        starts_at=other.starts_at.isoformat(),
                        ends_at=other.ends_at.isoformat(),
                    )
            reservation = Reservation(
                id=ids.new_id(ids.RESERVATION),
                backend=backend,
                tenant_id=tenant_id,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                created_by=actor.principal_id,
                created_at=now,
            )
            uow.calendars.add_reservation(reservation)
            audit(
                uow,
                actor,
                "reservation.create",
                tenant_id=tenant_id,
                target=reservation.id,
                backend=backend,
                detail=f"{starts_at.isoformat()}..{ends_at.isoformat()}: {reason}",
            )
            uow.commit()
        return reservation

    def cancel(self, actor: Actor, tenant_id: str, reservation_id: str) -> Reservation:
        """Cancel a reservation (operators); the device is shared again at once."""
        with self._uow() as uow:
            self._authz.authorize_on_tenant(uow, actor, Action.RESERVATION_MANAGE, tenant_id)
            reservation = uow.calendars.reservation(reservation_id, tenant_id)
            if reservation.cancelled_at is not None:
                raise Conflict("the reservation is already cancelled")
            now = utcnow()
            uow.calendars.cancel_reservation(reservation_id, now)
            audit(
                uow,
                actor,
                "reservation.cancel",
                tenant_id=tenant_id,
                target=reservation_id,
                backend=reservation.backend,
            )
            uow.commit()
        return replace(reservation, cancelled_at=now)

    def reservations(self, actor: Actor, tenant_id: str) -> list[Reservation]:
        """The tenant's live reservations, soonest first."""
        with self._uow() as uow:
            self._authz.authorize_on_tenant(uow, actor, Action.RESERVATION_READ, tenant_id)
            return uow.calendars.reservations(tenant_id=tenant_id, ending_after=utcnow())

    def add_window(
        self, actor: Actor, backend: str, starts_at: datetime, ends_at: datetime
    ) -> DeviceWindow:
        """Take a device out of service for maintenance (operators); it runs nothing then."""
        starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
        now = utcnow()
        self._exclusive_device(backend)
        check_span(starts_at, ends_at, now)
        self._authz.on_platform(actor, Action.DEVICE_MAINTAIN)
        window = DeviceWindow(
            id=ids.new_id(ids.WINDOW),
            backend=backend,
            starts_at=starts_at,
            ends_at=ends_at,
            kind=WindowKind.MAINTENANCE,
            created_at=now,
        )
        with self._uow() as uow:
            uow.calendars.add_window(window)
            audit(
                uow,
                actor,
                "device.window",
                tenant_id=None,
                target=window.id,
                backend=backend,
                detail=f"maintenance {starts_at.isoformat()}..{ends_at.isoformat()}",
            )
            uow.commit()
        return window

    def calendar(self, actor: Actor, backend: str) -> DeviceCalendar:
        """What *actor*'s tenant may see of a device's calendar and calibration."""
        self._catalogue.get(backend)
        self._authz.on_platform(actor, Action.BACKEND_LIST)
        now = utcnow()
        calendar = device_calendar(self._uow, backend, now)
        with self._uow() as uow:
            latest = uow.calibrations.latest(backend)
        own = tuple(r for r in calendar.reservations if r.tenant_id == actor.tenant_id)
        busy = [Busy(w.starts_at, w.ends_at, w.kind.value) for w in calendar.windows]
        busy += [
            Busy(r.starts_at, r.ends_at, "reserved")
            for r in calendar.reservations
            if r.tenant_id != actor.tenant_id
        ]
        return DeviceCalendar(
            backend=backend,
            unavailable=tuple(sorted(busy, key=lambda b: (b.starts_at, b.ends_at))),
            own_reservations=own,
            calibration_id=None if latest is None else latest.id,
            calibrated_at=None if latest is None else latest.taken_at,
            calibration_summary={}
            if latest is None
            else Calibration.from_json(latest.data).medians(),
        )

    def _exclusive_device(self, backend: str) -> None:
        info = self._catalogue.get(backend).info
        if not info.exclusive:
            raise ValidationFailed(
                f"{backend!r} is shared capacity, not a device that can be reserved",
                field="backend",
            )


def device_calendar(uow_factory: UnitOfWorkFactory, backend: str, now: datetime) -> Calendar:
    """A device's whole calendar, every tenant's reservations included.

    Read unconfined: row-level security would otherwise hide other tenants'
    reservations from a tenant's request, and the tenant would be told the
    device is free when it is not. Callers show others' reservations only as
    anonymous busy time.
    """
    with tenant_scope.unconfined(), uow_factory() as uow:
        return uow.calendars.calendar(backend, now)


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not cleaned or len(cleaned) > MAX_REASON:
        raise ValidationFailed(
            f"a reason of 1 to {MAX_REASON} characters is required", field="reason"
        )
    return cleaned
