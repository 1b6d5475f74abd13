"""How the CLI shows quotas, usage, reservations, device calendars and queue positions.

Pure functions from API JSON to rich renderables, like `qplane.cli.render`
(whose `literal` every value from the API passes through).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from qplane.cli.render import ID_WIDTH, JSON, format_time, key_values, literal

#: The rows of a usage table: label, the use's key, the limit's key, the reset's key.
_USAGE_ROWS: Final = (
    ("running jobs", "running_jobs", "running_jobs", None),
    ("queued jobs", "queued_jobs", "queued_jobs", None),
    ("shots today", "shots_today", "shots_per_day", "shots_reset_at"),
    (
        "QPU seconds this month",
        "qpu_seconds_this_month",
        "qpu_seconds_per_month",
        "seconds_reset_at",
    ),
    (
        "simulator seconds this month",
        "simulator_seconds_this_month",
        "simulator_seconds_per_month",
        "seconds_reset_at",
    ),
)


def usage_view(report: JSON) -> Group:
    """The tenant's limits, use and resets, then each project's (``qplane usage``)."""
    resets = {key: report[key] for key in ("shots_reset_at", "seconds_reset_at")}
    parts: list[Table | Text] = [
        key_values(
            [
                ("tenant", report["tenant_id"]),
                ("plan", f"{report['plan']} (fair-share weight {report['weight']})"),
                ("regions", _regions(report["allowed_regions"], "any")),
            ]
        ),
        usage_table("tenant limits", report["quota"], report["usage"], resets),
    ]
    for project in report["projects"]:
        title = f"project {project['name']} ({project['project_id']})"
        regions = _regions(project["allowed_regions"], "the tenant's")
        parts.append(
            usage_table(f"{title}, regions: {regions}", project["quota"], project["usage"], resets)
        )
    return Group(*parts)


def usage_table(title: str, quota: JSON, used: JSON, resets: JSON) -> Table:
    """One scope's limits: what is used, what is allowed, and when the use resets."""
    table = Table(title=literal(title), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("limit", no_wrap=True)
    table.add_column("used", justify="right", no_wrap=True)
    table.add_column("allowed", justify="right", no_wrap=True)
    table.add_column("resets (UTC)", no_wrap=True)
    for label, use_key, limit_key, reset_key in _USAGE_ROWS:
        limit = quota.get(limit_key)
        allowed = "unlimited" if limit is None else _amount(limit)
        reset = format_time(resets[reset_key], millis=False) if reset_key else "-"
        _row(table, label, _amount(used[use_key]), allowed, reset)
    return table


def limits_view(limits: JSON) -> Table:
    """A tenant's or a project's limits as just set (``qplane quota``)."""
    pairs: list[tuple[str, object]] = [("tenant", limits["tenant_id"])]
    if "project_id" in limits:
        pairs.append(("project", limits["project_id"]))
    else:
        pairs.append(("plan", f"{limits['plan']} (fair-share weight {limits['weight']})"))
    pairs.append(("regions", _regions(limits["allowed_regions"], "any")))
    for key, value in limits["quota"].items():
        pairs.append((key.replace("_", " "), "unlimited" if value is None else _amount(value)))
    return key_values(pairs)


def reservations_table(reservations: Iterable[JSON], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("reservation", no_wrap=True, min_width=ID_WIDTH)
    for column in ("backend", "from (UTC)", "until (UTC)", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for r in reservations:
        _row(table, r["id"], r["backend"], *_span(r), r.get("reason") or "")
    return table


def calendar_view(calendar: JSON) -> Group:
    """When a device is unavailable (whose reservation it is is never said), its
    calibration, and the caller's own reservations of it (``qplane device calendar``)."""
    summary = calendar.get("calibration_summary") or {}
    device = key_values(
        [
            ("device", calendar["backend"]),
            ("calibration", calendar.get("calibration_id") or "-"),
            ("calibrated (UTC)", format_time(calendar.get("calibrated_at"), millis=False) or "-"),
            *(
                (name, "-" if value is None else f"{value:.3g}")
                for name, value in sorted(summary.items())
            ),
        ]
    )
    parts: list[Table | Text] = [device, Text("")]
    if calendar["unavailable"]:
        busy = Table(title="unavailable", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("kind", "from (UTC)", "until (UTC)"):
            busy.add_column(column, no_wrap=True)
        for span in calendar["unavailable"]:
            _row(busy, span["kind"], *_span(span))
        parts.append(busy)
    else:
        parts.append(Text("unavailable: no windows or reservations ahead"))
    if calendar["reservations"]:
        parts.append(reservations_table(calendar["reservations"], title="your reservations"))
    return Group(*parts)


def queue_view(position: JSON) -> Table:
    """Where a queued job stands among its tenant's own jobs (``qplane queue``)."""
    return key_values(
        [
            ("job", position["job_id"]),
            ("backend", position["backend"]),
            ("position", f"{position['position']} among your queued jobs on this backend"),
            ("estimated start (UTC)", format_time(position["estimated_start"], millis=False)),
            ("waiting for", position.get("waiting_for") or "-"),
        ]
    )


def _row(table: Table, *cells: object) -> None:
    table.add_row(*(literal(cell) for cell in cells))


def _span(item: JSON) -> tuple[str, str]:
    return format_time(item["starts_at"], millis=False), format_time(item["ends_at"], millis=False)


def _amount(value: object) -> str:
    """A count as is; seconds with at most two decimals."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _regions(regions: Sequence[str], when_empty: str) -> str:
    return ", ".join(regions) or when_empty
