"""Device calendars: windows run nothing; reservations are exclusive, and only inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qplane.domain.calendar import Calendar, DeviceWindow, Reservation

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def window(start: datetime, end: datetime) -> DeviceWindow:
    return DeviceWindow("win_1", "dev", start, end)


def reservation(tenant: str, start: datetime, end: datetime) -> Reservation:
    return Reservation("rsv_1", "dev", tenant, start, end, "why", "usr_1", T0)


def test_nothing_starts_in_a_window_or_runs_into_one() -> None:
    calendar = Calendar(windows=(window(T0 + HOUR, T0 + 2 * HOUR),))
    assert calendar.may_start("a", T0, 60)
    assert not calendar.may_start("a", T0 + HOUR - timedelta(seconds=30), 60)
    assert not calendar.may_start("a", T0 + HOUR, 1)
    assert calendar.may_start("a", T0 + 2 * HOUR, 60)


def test_a_reservation_is_exclusive_inside_and_holds_nothing_back_outside() -> None:
    calendar = Calendar(reservations=(reservation("b", T0 + HOUR, T0 + 2 * HOUR),))
    assert calendar.may_start("b", T0 + HOUR, 60)
    assert not calendar.may_start("a", T0 + HOUR, 60)
    assert calendar.may_start("a", T0, 60), "before it, the device is shared as usual"
    assert not calendar.may_start("a", T0 + HOUR - timedelta(seconds=10), 60)


def test_next_free_skips_windows_and_others_reservations() -> None:
    calendar = Calendar(
        windows=(window(T0, T0 + HOUR),),
        reservations=(reservation("b", T0 + HOUR, T0 + 2 * HOUR),),
    )
    assert calendar.next_free("a", T0, 60) == T0 + 2 * HOUR
    assert calendar.next_free("b", T0, 60) == T0 + HOUR
