"""The SDK's calls for the QPU as a shared resource: quotas, usage, reservations, calendars,
queue positions. `QplaneClient` inherits them; they are kept here so each module stays small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, TypedDict

JSON = dict[str, Any]


class Limits(TypedDict, total=False):
    """A quota's limits; one left out (or None) is unlimited, 0 blocks entirely."""

    running_jobs: int | None
    queued_jobs: int | None
    shots_per_day: int | None
    qpu_seconds_per_month: float | None
    simulator_seconds_per_month: float | None


#: A time as the API takes it: a datetime (naive means UTC) or RFC 3339 text.
When = datetime | str


class SchedulingCalls(ABC):
    """Quota, usage, reservation, calendar and queue calls (mixed into `QplaneClient`)."""

    # -- quotas and usage -------------------------------------------------
    def set_tenant_quota(
        self,
        tenant_id: str,
        limits: Limits | None = None,
        *,
        plan: str | None = None,
        allowed_regions: list[str] | None = None,
    ) -> JSON:
        """Replace a tenant's quota (operators); a limit *limits* does not name is
        unlimited. *plan* and *allowed_regions* change only when given (``[]``: any region)."""
        payload: JSON = {**(limits or {})}
        if plan is not None:
            payload["plan"] = plan
        if allowed_regions is not None:
            payload["allowed_regions"] = allowed_regions
        return self._request("PUT", f"/v1/tenants/{tenant_id}/quotas", payload)

    def set_project_quota(
        self,
        tenant_id: str,
        project_id: str,
        limits: Limits | None = None,
        *,
        allowed_regions: list[str] | None = None,
    ) -> JSON:
        """Replace a project's quota, and its regions within the tenant's (tenant admins)."""
        payload: JSON = {**(limits or {})}
        if allowed_regions is not None:
            payload["allowed_regions"] = allowed_regions
        path = f"/v1/tenants/{tenant_id}/projects/{project_id}/quotas"
        return self._request("PUT", path, payload)

    def usage(self, tenant_id: str) -> JSON:
        """The tenant's and each project's quota and use, with when the periods reset."""
        return self._request("GET", f"/v1/tenants/{tenant_id}/usage")

    # -- reservations and device calendars ----------------------------------
    def reserve(
        self, tenant_id: str, backend: str, starts_at: When, ends_at: When, reason: str
    ) -> JSON:
        """Give a tenant a device alone from *starts_at* to *ends_at* (operators)."""
        payload: JSON = {
            "backend": backend,
            "starts_at": _time(starts_at),
            "ends_at": _time(ends_at),
            "reason": reason,
        }
        return self._request("POST", f"/v1/tenants/{tenant_id}/reservations", payload)

    def reservations(self, tenant_id: str) -> list[JSON]:
        """The tenant's reservations that have not ended, soonest first."""
        return self._request_list("GET", f"/v1/tenants/{tenant_id}/reservations")

    def cancel_reservation(self, tenant_id: str, reservation_id: str) -> JSON:
        return self._request("DELETE", f"/v1/tenants/{tenant_id}/reservations/{reservation_id}")

    def add_maintenance_window(self, backend: str, starts_at: When, ends_at: When) -> JSON:
        """Take a device out of service for maintenance (operators)."""
        payload: JSON = {"starts_at": _time(starts_at), "ends_at": _time(ends_at)}
        return self._request("POST", f"/v1/backends/{backend}/windows", payload)

    def device_calendar(self, backend: str) -> JSON:
        """When a device is unavailable, your own reservations of it, its calibration."""
        return self._request("GET", f"/v1/backends/{backend}/calendar")

    # -- queue ------------------------------------------------------------------
    def queue_position(self, job_id: str) -> JSON:
        """A queued job's place among your tenant's own jobs, and an estimated start."""
        return self._request("GET", f"/v1/jobs/{job_id}/queue")

    # -- provided by QplaneClient ---------------------------------------------------
    @abstractmethod
    def _request(
        self, method: str, path: str, payload: JSON | None = None, params: Any = None
    ) -> JSON:
        """Send one request and return its JSON body (raises the API's problem as an error)."""

    @abstractmethod
    def _request_list(self, method: str, path: str) -> list[JSON]:
        """Send one request whose body is a JSON array."""


def _time(value: When) -> str:
    return value.isoformat() if isinstance(value, datetime) else value
