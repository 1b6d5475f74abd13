"""The QPU as a shared resource: quotas and usage, reservations, device calendars, queue positions.

Operators set tenants' quotas, book reservations and take devices out for
maintenance; tenant admins share quotas out among projects and read their
usage; every tenant principal may read a device's calendar (which never
says whose reservation blocks it) and where its own queued jobs stand.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.scheduling_schemas import (
    CalendarOut,
    ProjectLimitsOut,
    ProjectQuotaSet,
    QueuePositionOut,
    ReservationCreate,
    ReservationOut,
    TenantLimitsOut,
    TenantQuotaSet,
    UsageReportOut,
    WindowCreate,
    WindowOut,
)
from qplane.domain.errors import NotFound

router = APIRouter(prefix="/v1")


@router.put("/tenants/{tenant_id}/quotas", tags=["quotas"])
def set_tenant_quotas(
    tenant_id: str, body: TenantQuotaSet, actor: ActorDep, qp: PlatformDep
) -> TenantLimitsOut:
    """Replace a tenant's quota (null: unlimited); change its plan or regions if given
    (operators, recent MFA)."""
    quota = body.quota(tenant_id)
    regions = None if body.allowed_regions is None else tuple(body.allowed_regions)
    tenant = qp.quotas.set_tenant_limits(
        actor, tenant_id, quota, plan=body.plan, allowed_regions=regions
    )
    return TenantLimitsOut.of(tenant, quota)


@router.put("/tenants/{tenant_id}/projects/{project_id}/quotas", tags=["quotas"])
def set_project_quotas(
    tenant_id: str, project_id: str, body: ProjectQuotaSet, actor: ActorDep, qp: PlatformDep
) -> ProjectLimitsOut:
    """Replace a project's quota, and its regions within the tenant's (tenant admins, recent MFA).

    A project of another tenant, or under another tenant's path, answers
    exactly like a missing one.
    """
    if tenant_id != actor.tenant_id:
        raise NotFound("project not found")
    quota = body.quota(tenant_id, project_id)
    regions = None if body.allowed_regions is None else tuple(body.allowed_regions)
    project = qp.quotas.set_project_limits(actor, project_id, quota, allowed_regions=regions)
    return ProjectLimitsOut.of(project, quota)


@router.get("/tenants/{tenant_id}/usage", tags=["quotas"])
def get_usage(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> UsageReportOut:
    """The tenant's and each project's quota and use, and when the periods reset."""
    return UsageReportOut.of(qp.quotas.report(actor, tenant_id))


@router.post(
    "/tenants/{tenant_id}/reservations",
    status_code=status.HTTP_201_CREATED,
    tags=["reservations"],
)
def create_reservation(
    tenant_id: str, body: ReservationCreate, actor: ActorDep, qp: PlatformDep
) -> ReservationOut:
    """Give the tenant a device alone for a time (operators); 409 when it overlaps another."""
    reservation = qp.reservations.reserve(
        actor, tenant_id, body.backend, body.starts_at, body.ends_at, body.reason
    )
    return ReservationOut.of(reservation)


@router.get("/tenants/{tenant_id}/reservations", tags=["reservations"])
def list_reservations(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[ReservationOut]:
    """The tenant's reservations that have not ended, soonest first."""
    return [ReservationOut.of(r) for r in qp.reservations.reservations(actor, tenant_id)]


@router.delete("/tenants/{tenant_id}/reservations/{reservation_id}", tags=["reservations"])
def cancel_reservation(
    tenant_id: str, reservation_id: str, actor: ActorDep, qp: PlatformDep
) -> ReservationOut:
    """Cancel a reservation (operators): the device is shared again at once."""
    return ReservationOut.of(qp.reservations.cancel(actor, tenant_id, reservation_id))


@router.post("/backends/{backend}/windows", status_code=status.HTTP_201_CREATED, tags=["backends"])
def add_maintenance_window(
    backend: str, body: WindowCreate, actor: ActorDep, qp: PlatformDep
) -> WindowOut:
    """Take a device out of service for maintenance (operators); it runs nothing then."""
    return WindowOut.of(qp.reservations.add_window(actor, backend, body.starts_at, body.ends_at))


@router.get("/backends/{backend}/calendar", tags=["backends"])
def device_calendar(backend: str, actor: ActorDep, qp: PlatformDep) -> CalendarOut:
    """When the device is unavailable (windows; others' reservations only as "reserved"),
    the caller's own reservations, and its current calibration's summary."""
    return CalendarOut.of(qp.reservations.calendar(actor, backend))


@router.get("/jobs/{job_id}/queue", tags=["jobs"])
def queue_position(job_id: str, actor: ActorDep, qp: PlatformDep) -> QueuePositionOut:
    """The job's place among its tenant's own queued jobs and an estimated start;
    409 once it is no longer queued."""
    return QueuePositionOut.of(qp.queue.position(actor, job_id))
