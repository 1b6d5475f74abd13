"""The QPU as a shared resource, from the command line: usage, quotas, reservations,
device windows and calendars, and where a queued job stands.

Operators set tenants' quotas (`quota set`), book reservations and take
devices out for maintenance; tenant admins share quotas out among projects
(`quota project`) and read `usage`. Every change is privileged: the CLI
asks for a second factor when the server challenges (RFC 9470).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from qplane.cli import render, scheduling_views
from qplane.cli.errors import one_line_errors
from qplane.cli.session import UrlOption, console, open_client, project_of, tenant_of
from qplane.sdk.scheduling import Limits

quota_app = typer.Typer(
    help="Quotas and allowed regions: a tenant's (operators), a project's (tenant admins).",
    no_args_is_help=True,
)
reservation_app = typer.Typer(
    help="Reservations: a device for one tenant alone for a time (operators book them).",
    no_args_is_help=True,
)
device_app = typer.Typer(
    help="Devices' calendars: maintenance windows (operators), what is unavailable when.",
    no_args_is_help=True,
)

TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="Tenant id (or name, for operators); default: your own."),
]
RegionOption = Annotated[
    list[str] | None,
    typer.Option("--region", help="An allowed region (repeatable); default: unchanged."),
]
AnyRegionOption = Annotated[
    bool, typer.Option("--any-region", help="Lift the region limit (any region allowed).")
]
StartOption = Annotated[str, typer.Option("--start", help="RFC 3339 time; UTC unless it says.")]
EndOption = Annotated[str, typer.Option("--end", help="RFC 3339 time; UTC unless it says.")]


def _limit(flag: str, what: str) -> Any:
    """An optional limit: left out, it is unlimited (the quota is replaced whole)."""
    return typer.Option(flag, min=0, help=f"{what}; unlimited if left out.", show_default=False)


RunningOption = Annotated[int | None, _limit("--running", "Jobs running at once")]
QueuedOption = Annotated[int | None, _limit("--queued", "Jobs waiting at once")]
ShotsOption = Annotated[int | None, _limit("--shots-per-day", "Shots per UTC day")]
QpuOption = Annotated[float | None, _limit("--qpu-seconds", "QPU device-seconds per month")]
SimOption = Annotated[
    float | None, _limit("--simulator-seconds", "Simulator device-seconds per month")
]


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
    app.command("queue")(queue)
    quota_app.command("set")(quota_set)
    quota_app.command("project")(quota_project)
    reservation_app.command("create")(reservation_create)
    reservation_app.command("list")(reservation_list)
    reservation_app.command("cancel")(reservation_cancel)
    device_app.command("window")(device_window)
    device_app.command("calendar")(device_calendar)
    app.add_typer(quota_app, name="quota")
    app.add_typer(reservation_app, name="reservation")
    app.add_typer(device_app, name="device")


@one_line_errors
def usage(tenant: TenantOption = None, url: UrlOption = None) -> None:
    """Your tenant's and each project's limits, what is used, and when each resets."""
    with open_client(url) as client:
        report = client.usage(tenant_of(client, tenant))
    console().print(scheduling_views.usage_view(report))


@one_line_errors
def quota_set(
    tenant: Annotated[str, typer.Argument(help="Tenant id or name.", show_default=False)],
    plan: Annotated[
        str | None,
        typer.Option(
            "--plan", help="free, standard or premium (fair-share weight).", show_default=False
        ),
    ] = None,
    region: RegionOption = None,
    any_region: AnyRegionOption = False,
    running: RunningOption = None,
    queued: QueuedOption = None,
    shots_per_day: ShotsOption = None,
    qpu_seconds: QpuOption = None,
    simulator_seconds: SimOption = None,
    url: UrlOption = None,
) -> None:
    """Replace a tenant's quota; change its plan or regions if given (operators)."""
    limits = _limits(running, queued, shots_per_day, qpu_seconds, simulator_seconds)
    with open_client(url) as client:
        set_to = client.set_tenant_quota(
            tenant_of(client, tenant),
            limits,
            plan=plan,
            allowed_regions=_regions(region, any_region),
        )
    console().print(scheduling_views.limits_view(set_to))


@one_line_errors
def quota_project(
    project: Annotated[str, typer.Argument(help="Project id or name.", show_default=False)],
    region: RegionOption = None,
    any_region: AnyRegionOption = False,
    running: RunningOption = None,
    queued: QueuedOption = None,
    shots_per_day: ShotsOption = None,
    qpu_seconds: QpuOption = None,
    simulator_seconds: SimOption = None,
    url: UrlOption = None,
) -> None:
    """Replace a project's quota, and its regions within the tenant's (tenant admins)."""
    limits = _limits(running, queued, shots_per_day, qpu_seconds, simulator_seconds)
    with open_client(url) as client:
        set_to = client.set_project_quota(
            tenant_of(client, None),
            project_of(client, project),
            limits,
            allowed_regions=_regions(region, any_region),
        )
    console().print(scheduling_views.limits_view(set_to))


@one_line_errors
def reservation_create(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant (id or name).")],
    backend: Annotated[str, typer.Option("--backend", help="An exclusive device.")],
    start: StartOption,
    end: EndOption,
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded in the audit log.")],
    url: UrlOption = None,
) -> None:
    """Give a tenant a device alone from --start to --end (operators)."""
    starts_at, ends_at = parse_time(start), parse_time(end)
    with open_client(url) as client:
        made = client.reserve(tenant_of(client, tenant), backend, starts_at, ends_at, reason)
    console().print(scheduling_views.reservations_table([made]))


@one_line_errors
def reservation_list(tenant: TenantOption = None, url: UrlOption = None) -> None:
    """A tenant's reservations that have not ended, soonest first."""
    with open_client(url) as client:
        console().print(
            scheduling_views.reservations_table(client.reservations(tenant_of(client, tenant)))
        )


@one_line_errors
def reservation_cancel(
    reservation: Annotated[str, typer.Argument(help="The reservation id (rsv_…).")],
    tenant: Annotated[str, typer.Option("--tenant", help="Its tenant (id or name).")],
    url: UrlOption = None,
) -> None:
    """Cancel a reservation (operators): the device is shared again at once."""
    with open_client(url) as client:
        cancelled = client.cancel_reservation(tenant_of(client, tenant), reservation)
    console().print(render.literal(f"reservation {cancelled['id']} cancelled"))


@one_line_errors
def device_window(
    backend: Annotated[str, typer.Argument(help="An exclusive device.", show_default=False)],
    start: StartOption,
    end: EndOption,
    url: UrlOption = None,
) -> None:
    """Take a device out of service for maintenance (operators): it runs nothing then."""
    starts_at, ends_at = parse_time(start), parse_time(end)
    with open_client(url) as client:
        window = client.add_maintenance_window(backend, starts_at, ends_at)
    console().print(
        render.literal(
            f"{window['kind']} window {window['id']} on {window['backend']}: "
            f"{render.format_time(window['starts_at'], millis=False)} .. "
            f"{render.format_time(window['ends_at'], millis=False)}"
        )
    )


@one_line_errors
def device_calendar(
    backend: Annotated[str, typer.Argument(help="A backend (`qplane backends`).")],
    url: UrlOption = None,
) -> None:
    """When a device is unavailable, your own reservations of it, and its calibration."""
    with open_client(url) as client:
        console().print(scheduling_views.calendar_view(client.device_calendar(backend)))


@one_line_errors
def queue(job_id: str, url: UrlOption = None) -> None:
    """Where a queued job stands among your tenant's own jobs, and when it may start."""
    with open_client(url) as client:
        console().print(scheduling_views.queue_view(client.queue_position(job_id)))


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; one without an offset is UTC. Raises ValueError naming the text."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text[:40]!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _regions(region: list[str] | None, any_region: bool) -> list[str] | None:
    if any_region and region:
        raise ValueError("give --region or --any-region, not both")
    return [] if any_region else region


def _limits(
    running: int | None,
    queued: int | None,
    shots_per_day: int | None,
    qpu_seconds: float | None,
    simulator_seconds: float | None,
) -> Limits:
    return Limits(
        running_jobs=running,
        queued_jobs=queued,
        shots_per_day=shots_per_day,
        qpu_seconds_per_month=qpu_seconds,
        simulator_seconds_per_month=simulator_seconds,
    )
