"""The scheduler's own state: quotas, fair-share tags, device calendars, calibrations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from qplane.domain.calendar import Calendar, DeviceWindow, Reservation, WindowKind
from qplane.domain.errors import NotFound
from qplane.domain.quotas import Quota
from qplane.domain.scheduling import StoredCalibration
from qplane.store.models_scheduling import (
    CalibrationRow,
    DeviceClockRow,
    DeviceWindowRow,
    FairShareRow,
    QuotaRow,
    ReservationRow,
)
from qplane.store.repositories._base import Repository

_TENANT_WIDE = ""  # the project_id of a tenant's own quota row


class SqlQuotaRepository(Repository):
    def get(self, tenant_id: str, project_id: str | None = None) -> Quota | None:
        row = self._find(tenant_id, project_id)
        return None if row is None else _quota(row)

    def for_tenant(self, tenant_id: str) -> list[Quota]:
        rows = self._all(
            select(QuotaRow).where(QuotaRow.tenant_id == tenant_id).order_by(QuotaRow.project_id)
        )
        return [_quota(row) for row in rows]

    def put(self, quota: Quota, at: datetime) -> None:
        row = self._find(quota.tenant_id, quota.project_id)
        if row is None:
            row = QuotaRow(tenant_id=quota.tenant_id, project_id=quota.project_id or _TENANT_WIDE)
            self._session.add(row)
        row.running_jobs = quota.running_jobs
        row.queued_jobs = quota.queued_jobs
        row.shots_per_day = quota.shots_per_day
        row.qpu_seconds_per_month = quota.qpu_seconds_per_month
        row.simulator_seconds_per_month = quota.simulator_seconds_per_month
        row.updated_at = at
        with self._guarded(conflict="the quota was changed concurrently", missing="not found"):
            self._session.flush()

    def _find(self, tenant_id: str, project_id: str | None) -> QuotaRow | None:
        return self._first(
            select(QuotaRow).where(
                QuotaRow.tenant_id == tenant_id,
                QuotaRow.project_id == (project_id or _TENANT_WIDE),
            )
        )


class SqlFairShareRepository(Repository):
    def clock_for_update(self, backend: str) -> float:
        """The device's virtual clock (0 before its first job)."""
        row = self._first(
            select(DeviceClockRow).where(DeviceClockRow.backend == backend).with_for_update()
        )
        return 0.0 if row is None else row.virtual_time

    def set_clock(self, backend: str, virtual_time: float) -> None:
        row = self._first(select(DeviceClockRow).where(DeviceClockRow.backend == backend))
        if row is None:
            self._session.add(DeviceClockRow(backend=backend, virtual_time=virtual_time))
        else:
            row.virtual_time = virtual_time
        self._session.flush()

    def finish_tags(self, backend: str, tenant_ids: Sequence[str]) -> dict[str, float]:
        if not tenant_ids:
            return {}
        stmt = select(FairShareRow.tenant_id, FairShareRow.finish_tag).where(
            FairShareRow.backend == backend, FairShareRow.tenant_id.in_(list(tenant_ids))
        )
        return {tenant: tag for tenant, tag in self._session.execute(stmt)}

    def set_finish_tag(self, backend: str, tenant_id: str, tag: float) -> None:
        changed = self._rowcount(
            update(FairShareRow)
            .where(FairShareRow.backend == backend, FairShareRow.tenant_id == tenant_id)
            .values(finish_tag=tag)
        )
        if changed == 0:
            self._session.add(FairShareRow(backend=backend, tenant_id=tenant_id, finish_tag=tag))
            self._session.flush()

    def adjust_finish_tag(self, backend: str, tenant_id: str, delta: float) -> None:
        """Correct a tag once a job's metered time replaces its estimate."""
        self._session.execute(
            update(FairShareRow)
            .where(FairShareRow.backend == backend, FairShareRow.tenant_id == tenant_id)
            .values(finish_tag=FairShareRow.finish_tag + delta)
        )


class SqlCalendarRepository(Repository):
    def add_window(self, window: DeviceWindow) -> None:
        self._session.add(
            DeviceWindowRow(
                id=window.id,
                backend=window.backend,
                kind=window.kind.value,
                starts_at=window.starts_at,
                ends_at=window.ends_at,
                created_at=window.created_at or window.starts_at,
            )
        )
        self._session.flush()

    def windows(self, backend: str, ending_after: datetime, limit: int = 50) -> list[DeviceWindow]:
        rows = self._all(
            select(DeviceWindowRow)
            .where(DeviceWindowRow.backend == backend, DeviceWindowRow.ends_at > ending_after)
            .order_by(DeviceWindowRow.starts_at)
            .limit(limit)
        )
        return [_window(row) for row in rows]

    def last_window(self, backend: str, kind: WindowKind) -> DeviceWindow | None:
        row = self._first(
            select(DeviceWindowRow)
            .where(DeviceWindowRow.backend == backend, DeviceWindowRow.kind == kind.value)
            .order_by(DeviceWindowRow.starts_at.desc())
            .limit(1)
        )
        return None if row is None else _window(row)

    def add_reservation(self, reservation: Reservation) -> None:
        with self._guarded(conflict="reservation exists", missing="tenant not found"):
            self._session.add(
                ReservationRow(
                    id=reservation.id,
                    backend=reservation.backend,
                    tenant_id=reservation.tenant_id,
                    starts_at=reservation.starts_at,
                    ends_at=reservation.ends_at,
                    reason=reservation.reason,
                    created_by=reservation.created_by,
                    created_at=reservation.created_at,
                    cancelled_at=reservation.cancelled_at,
                )
            )
            self._session.flush()

    def reservation(self, reservation_id: str, tenant_id: str | None = None) -> Reservation:
        """Raises `NotFound`; with *tenant_id*, another tenant's answers like a missing one."""
        stmt = select(ReservationRow).where(ReservationRow.id == reservation_id)
        if tenant_id is not None:
            stmt = stmt.where(ReservationRow.tenant_id == tenant_id)
        row = self._first(stmt)
        if row is None:
            raise NotFound("reservation not found")
        return _reservation(row)

    def cancel_reservation(self, reservation_id: str, at: datetime) -> None:
        self._session.execute(
            update(ReservationRow)
            .where(ReservationRow.id == reservation_id, ReservationRow.cancelled_at.is_(None))
            .values(cancelled_at=at)
        )

    def reservations(
        self,
        *,
        backend: str | None = None,
        tenant_id: str | None = None,
        ending_after: datetime,
        limit: int = 200,
    ) -> list[Reservation]:
        """Live (not cancelled) reservations that end after *ending_after*, soonest first."""
        stmt = select(ReservationRow).where(
            ReservationRow.ends_at > ending_after, ReservationRow.cancelled_at.is_(None)
        )
        if backend is not None:
            stmt = stmt.where(ReservationRow.backend == backend)
        if tenant_id is not None:
            stmt = stmt.where(ReservationRow.tenant_id == tenant_id)
        rows = self._all(stmt.order_by(ReservationRow.starts_at).limit(limit))
        return [_reservation(row) for row in rows]

    def calendar(self, backend: str, now: datetime) -> Calendar:
        """The device's windows and reservations from *now* on."""
        return Calendar(
            windows=tuple(self.windows(backend, now)),
            reservations=tuple(self.reservations(backend=backend, ending_after=now)),
        )


class SqlCalibrationRepository(Repository):
    def add(self, calibration: StoredCalibration) -> None:
        self._session.add(
            CalibrationRow(
                id=calibration.id,
                backend=calibration.backend,
                taken_at=calibration.taken_at,
                data=calibration.data,
            )
        )
        self._session.flush()

    def latest(self, backend: str) -> StoredCalibration | None:
        row = self._first(
            select(CalibrationRow)
            .where(CalibrationRow.backend == backend)
            .order_by(CalibrationRow.taken_at.desc(), CalibrationRow.id.desc())
            .limit(1)
        )
        return None if row is None else _calibration(row)

    def get(self, calibration_id: str) -> StoredCalibration:
        row = self._first(select(CalibrationRow).where(CalibrationRow.id == calibration_id))
        if row is None:
            raise NotFound("calibration not found")
        return _calibration(row)

    def prune(self, backend: str, keep: int) -> int:
        """Keep the newest *keep* calibrations of a device (jobs keep the id they ran under)."""
        newest = select(CalibrationRow.id).where(CalibrationRow.backend == backend)
        kept = list(
            self._session.scalars(
                newest.order_by(CalibrationRow.taken_at.desc()).limit(max(keep, 1))
            )
        )
        return self._rowcount(
            delete(CalibrationRow).where(
                CalibrationRow.backend == backend, CalibrationRow.id.not_in(kept)
            )
        )


def _quota(row: QuotaRow) -> Quota:
    return Quota(
        tenant_id=row.tenant_id,
        project_id=row.project_id or None,
        running_jobs=row.running_jobs,
        queued_jobs=row.queued_jobs,
        shots_per_day=row.shots_per_day,
        qpu_seconds_per_month=row.qpu_seconds_per_month,
        simulator_seconds_per_month=row.simulator_seconds_per_month,
    )


def _window(row: DeviceWindowRow) -> DeviceWindow:
    return DeviceWindow(
        id=row.id,
        backend=row.backend,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        kind=WindowKind(row.kind),
        created_at=row.created_at,
    )


def _reservation(row: ReservationRow) -> Reservation:
    return Reservation(
        id=row.id,
        backend=row.backend,
        tenant_id=row.tenant_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
    )


def _calibration(row: CalibrationRow) -> StoredCalibration:
    return StoredCalibration(id=row.id, backend=row.backend, taken_at=row.taken_at, data=row.data)
