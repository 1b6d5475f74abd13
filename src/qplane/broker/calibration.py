"""Keeping emulated devices calibrated: records, drift, and calibration windows.

A calibrated device (an emulated QPU) always has a current calibration
record; jobs are leased with it, and run and report under its id. Every
``interval`` the device goes through a calibration window of ``window``
seconds, planned ahead so tenants can see it: the scheduler starts nothing
that would still run inside it, and when it ends a new, drifted
calibration becomes current. Operators may add maintenance windows too.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Final

from qplane.backends.calibration import drifted, initial_calibration
from qplane.backends.catalogue import BackendCatalogue
from qplane.domain import ids
from qplane.domain.backends import BackendInfo
from qplane.domain.calendar import DeviceWindow, WindowKind
from qplane.domain.calibration import Calibration
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.scheduling import StoredCalibration

#: Calibrations kept per device: jobs name the id they ran under, and results
#: stay explainable long after the device drifted.
KEPT_CALIBRATIONS: Final = 1000


class CalibrationKeeper:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        catalogue: BackendCatalogue,
        *,
        interval_s: float,
        window_s: float,
    ) -> None:
        self._uow = uow_factory
        self._catalogue = catalogue
        self._interval = timedelta(seconds=interval_s)
        self._window = timedelta(seconds=window_s)

    def devices(self) -> list[BackendInfo]:
        return [info for info in self._catalogue.infos() if info.calibrated]

    def current(self, uow: UnitOfWork, info: BackendInfo, now: datetime) -> StoredCalibration:
        """The device's calibration in force at *now*, taking the first one if it has none."""
        latest = uow.calibrations.latest(info.name)
        if latest is None:
            latest = _stored(initial_calibration(info, now))
            uow.calibrations.add(latest)
        return latest

    def maintain(self, now: datetime) -> int:
        """Plan each device's next calibration window and recalibrate after one ended.

        Returns how many new calibrations were taken. Safe on several servers:
        each device's step runs in its own transaction, and a duplicate
        window or record only repeats what the other server did.
        """
        taken = 0
        for info in self.devices():
            with self._uow() as uow:
                uow.scheduler.cursor_for_update()  # one keeper at a time, like the scheduler
                taken += self._recalibrate(uow, info, now)
                self._plan(uow, info, now)
                uow.commit()
        return taken

    def _recalibrate(self, uow: UnitOfWork, info: BackendInfo, now: datetime) -> int:
        current = self.current(uow, info, now)
        ended = [
            w
            for w in uow.calendars.windows(info.name, current.taken_at)
            if w.kind is WindowKind.CALIBRATION and w.ends_at <= now
        ]
        if not ended:
            return 0
        previous = Calibration.from_json(current.data)
        at = max(w.ends_at for w in ended)
        uow.calibrations.add(_stored(drifted(previous, at, secrets.randbits(63))))
        uow.calibrations.prune(info.name, KEPT_CALIBRATIONS)
        return 1

    def _plan(self, uow: UnitOfWork, info: BackendInfo, now: datetime) -> None:
        if self._window <= timedelta(0):
            return
        last = uow.calendars.last_window(info.name, WindowKind.CALIBRATION)
        if last is not None and last.starts_at > now:
            return  # the next one is already on the calendar
        starts = now + self._interval if last is None else last.starts_at + self._interval
        while starts + self._window <= now:  # missed while nobody swept: plan the next
            starts += self._interval
        uow.calendars.add_window(
            DeviceWindow(
                id=ids.new_id(ids.WINDOW),
                backend=info.name,
                starts_at=starts,
                ends_at=starts + self._window,
                kind=WindowKind.CALIBRATION,
                created_at=now,
            )
        )


def _stored(calibration: Calibration) -> StoredCalibration:
    return StoredCalibration(
        id=calibration.id,
        backend=calibration.backend,
        taken_at=calibration.taken_at,
        data=calibration.to_json(),
    )
