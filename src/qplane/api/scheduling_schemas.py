"""The wire format of quotas, usage, reservations, device calendars and queue positions.

Request bodies refuse unknown fields (`Strict`). A limit sent as null, or
left out, is unlimited: a quota is replaced as a whole, so what a body does
not name is not silently kept from before.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from qplane.api.schemas import Strict
from qplane.broker.quotas import ScopeUsage, UsageReport
from qplane.broker.reservations import DeviceCalendar
from qplane.domain.calendar import DeviceWindow, Reservation
from qplane.domain.quotas import Quota, Usage, weight_of
from qplane.domain.scheduling import QueuePosition
from qplane.domain.tenancy import Project, Tenant

_Regions = list[str] | None


class Limits(Strict):
    """A quota's limits; null (or absent) is unlimited, 0 blocks entirely."""

    running_jobs: int | None = Field(default=None, ge=0)
    queued_jobs: int | None = Field(default=None, ge=0)
    shots_per_day: int | None = Field(default=None, ge=0)
    qpu_seconds_per_month: float | None = Field(default=None, ge=0)
    simulator_seconds_per_month: float | None = Field(default=None, ge=0)

    def quota(self, tenant_id: str, project_id: str | None = None) -> Quota:
        return Quota(
            tenant_id=tenant_id,
            project_id=project_id,
            running_jobs=self.running_jobs,
            queued_jobs=self.queued_jobs,
            shots_per_day=self.shots_per_day,
            qpu_seconds_per_month=self.qpu_seconds_per_month,
            simulator_seconds_per_month=self.simulator_seconds_per_month,
        )


class TenantQuotaSet(Limits):
    """A tenant's quota (replaced whole), and its plan and regions when given (else kept)."""

    plan: str | None = Field(default=None, max_length=32)
    #: Regions the tenant's jobs and payloads may use; [] lifts the limit.
    allowed_regions: _Regions = Field(default=None, max_length=16)


class ProjectQuotaSet(Limits):
    """A project's quota (replaced whole), and its regions (within the tenant's) when given."""

    allowed_regions: _Regions = Field(default=None, max_length=16)


class LimitsOut(BaseModel):
    running_jobs: int | None
    queued_jobs: int | None
    shots_per_day: int | None
    qpu_seconds_per_month: float | None
    simulator_seconds_per_month: float | None

    @classmethod
    def of(cls, quota: Quota | None) -> LimitsOut:
        """*quota*'s limits; no quota at all reads as every limit unlimited."""
        quota = quota or Quota(tenant_id="")
        return cls(
            running_jobs=quota.running_jobs,
            queued_jobs=quota.queued_jobs,
            shots_per_day=quota.shots_per_day,
            qpu_seconds_per_month=quota.qpu_seconds_per_month,
            simulator_seconds_per_month=quota.simulator_seconds_per_month,
        )


class TenantLimitsOut(BaseModel):
    tenant_id: str
    plan: str
    weight: int
    allowed_regions: list[str]
    quota: LimitsOut

    @classmethod
    def of(cls, tenant: Tenant, quota: Quota) -> TenantLimitsOut:
        return cls(
            tenant_id=tenant.id,
            plan=tenant.plan,
            weight=weight_of(tenant.plan),
            allowed_regions=list(tenant.allowed_regions),
            quota=LimitsOut.of(quota),
        )


class ProjectLimitsOut(BaseModel):
    tenant_id: str
    project_id: str
    allowed_regions: list[str]
    quota: LimitsOut

    @classmethod
    def of(cls, project: Project, quota: Quota) -> ProjectLimitsOut:
        return cls(
            tenant_id=project.tenant_id,
            project_id=project.id,
            allowed_regions=list(project.allowed_regions),
            quota=LimitsOut.of(quota),
        )


class UsageOut(BaseModel):
    running_jobs: int
    queued_jobs: int
    shots_today: int
    qpu_seconds_this_month: float
    simulator_seconds_this_month: float

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            running_jobs=usage.running_jobs,
            queued_jobs=usage.queued_jobs,
            shots_today=usage.shots_today,
            qpu_seconds_this_month=round(usage.qpu_seconds_this_month, 3),
            simulator_seconds_this_month=round(usage.simulator_seconds_this_month, 3),
        )


class ProjectUsageOut(BaseModel):
    project_id: str
    name: str
    #: Empty: the tenant's regions apply.
    allowed_regions: list[str]
    quota: LimitsOut
    usage: UsageOut

    @classmethod
    def of(cls, scope: ScopeUsage) -> ProjectUsageOut:
        assert scope.project is not None  # a project's scope always names it
        return cls(
            project_id=scope.project.id,
            name=scope.project.name,
            allowed_regions=list(scope.allowed_regions),
            quota=LimitsOut.of(scope.quota),
            usage=UsageOut.of(scope.usage),
        )


class UsageReportOut(BaseModel):
    """A tenant's plan, regions, quota and use, each project's, and when the periods reset."""

    tenant_id: str
    plan: str
    weight: int
    #: Empty: any region.
    allowed_regions: list[str]
    quota: LimitsOut
    usage: UsageOut
    projects: list[ProjectUsageOut]
    shots_reset_at: datetime
    seconds_reset_at: datetime

    @classmethod
    def of(cls, report: UsageReport) -> UsageReportOut:
        return cls(
            tenant_id=report.tenant.id,
            plan=report.tenant.plan,
            weight=report.weight,
            allowed_regions=list(report.overall.allowed_regions),
            quota=LimitsOut.of(report.overall.quota),
            usage=UsageOut.of(report.overall.usage),
            projects=[ProjectUsageOut.of(scope) for scope in report.projects],
            shots_reset_at=report.shots_reset_at,
            seconds_reset_at=report.seconds_reset_at,
        )


class ReservationCreate(Strict):
    backend: str = Field(max_length=64)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(max_length=500)


class ReservationOut(BaseModel):
    id: str
    backend: str
    tenant_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationOut:
        return cls(
            id=reservation.id,
            backend=reservation.backend,
            tenant_id=reservation.tenant_id,
            starts_at=reservation.starts_at,
            ends_at=reservation.ends_at,
            reason=reservation.reason,
            created_at=reservation.created_at,
            cancelled_at=reservation.cancelled_at,
        )


class WindowCreate(Strict):
    starts_at: datetime
    ends_at: datetime


class WindowOut(BaseModel):
    id: str
    backend: str
    starts_at: datetime
    ends_at: datetime
    kind: str

    @classmethod
    def of(cls, window: DeviceWindow) -> WindowOut:
        return cls(
            id=window.id,
            backend=window.backend,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            kind=window.kind.value,
        )


class BusyOut(BaseModel):
    """Time the device is unavailable to the caller; another tenant's reservation is only
    ``reserved``, never whose it is."""

    starts_at: datetime
    ends_at: datetime
    kind: str


class CalendarOut(BaseModel):
    backend: str
    unavailable: list[BusyOut]
    #: The caller's own tenant's reservations of this device.
    reservations: list[ReservationOut]
    calibration_id: str | None
    calibrated_at: datetime | None
    #: Device-wide medians (T1, T2, readout and gate errors), never per-qubit detail.
    calibration_summary: dict[str, float | None]

    @classmethod
    def of(cls, calendar: DeviceCalendar) -> CalendarOut:
        return cls(
            backend=calendar.backend,
            unavailable=[
                BusyOut(starts_at=b.starts_at, ends_at=b.ends_at, kind=b.kind)
                for b in calendar.unavailable
            ],
            reservations=[ReservationOut.of(r) for r in calendar.own_reservations],
            calibration_id=calendar.calibration_id,
            calibrated_at=calendar.calibrated_at,
            calibration_summary=dict(calendar.calibration_summary),
        )


class QueuePositionOut(BaseModel):
    """Where a job stands among its own tenant's queued jobs on its backend."""

    job_id: str
    backend: str
    position: int
    estimated_start: datetime
    waiting_for: str | None

    @classmethod
    def of(cls, position: QueuePosition) -> QueuePositionOut:
        return cls(
            job_id=position.job_id,
            backend=position.backend,
            position=position.position,
            estimated_start=position.estimated_start,
            waiting_for=position.waiting_for,
        )
