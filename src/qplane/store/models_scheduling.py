"""Tables of the scheduler: quotas, fair-share tags, device calendars and calibrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, Base

BACKEND = String(64)


class QuotaRow(Base):
    """Limits of a tenant (``project_id`` '') or of one project; NULL: unlimited."""

    __tablename__ = "quotas"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    running_jobs: Mapped[int | None] = mapped_column(Integer)
    queued_jobs: Mapped[int | None] = mapped_column(Integer)
    shots_per_day: Mapped[int | None] = mapped_column(Integer)
    qpu_seconds_per_month: Mapped[float | None] = mapped_column(Float)
    simulator_seconds_per_month: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime]


class FairShareRow(Base):
    """A tenant's finish tag on one device (start-time fair queueing)."""

    __tablename__ = "fair_share"

    backend: Mapped[str] = mapped_column(BACKEND, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    finish_tag: Mapped[float] = mapped_column(Float)


class DeviceClockRow(Base):
    """A device's virtual clock: the start tag of the job it was last given."""

    __tablename__ = "device_clocks"

    backend: Mapped[str] = mapped_column(BACKEND, primary_key=True)
    virtual_time: Mapped[float] = mapped_column(Float)


class CalibrationRow(Base):
    __tablename__ = "calibrations"
    __table_args__ = (Index("ix_calibrations_backend_taken", "backend", "taken_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    backend: Mapped[str] = mapped_column(BACKEND)
    taken_at: Mapped[datetime]
    data: Mapped[str] = mapped_column(Text)


class DeviceWindowRow(Base):
    __tablename__ = "device_windows"
    __table_args__ = (Index("ix_device_windows_backend_ends", "backend", "ends_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    backend: Mapped[str] = mapped_column(BACKEND)
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]


class ReservationRow(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_backend_ends", "backend", "ends_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    backend: Mapped[str] = mapped_column(BACKEND)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
