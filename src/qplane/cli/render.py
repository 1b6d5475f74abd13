"""How the CLI shows qplane's objects: pure functions from API JSON to rich renderables.

Nothing here prints or talks to the server, so every view can be tested by
rendering it into a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

JSON = Mapping[str, Any]

DEFAULT_TOP: Final = 16
DEFAULT_BAR_WIDTH: Final = 40
BAR_CHAR: Final = "█"
#: C0 and C1 control characters but tab and newline: shown escaped, never sent to the terminal.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: ``job_`` and 32 hex digits (see `qplane.domain.ids`).
ID_WIDTH: Final = 36
_STATE_STYLES: Final = {
    "verified": "green",
    "succeeded": "green",
    "retired": "dim",
    "failed": "red",
    "rejected": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "scheduled": "cyan",
    "queued": "blue",
}


@dataclass(frozen=True, slots=True)
class BarRow:
    """One outcome of a result, with the width of its bar in terminal cells."""

    outcome: str
    count: int
    cells: int


def ranked_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Outcomes by count, most frequent first; ties in bitstring order so output is stable."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def bar_rows(
    counts: Mapping[str, int], width: int = DEFAULT_BAR_WIDTH, top: int | None = None
) -> list[BarRow]:
    """The *top* most frequent outcomes with bars proportional to their counts.

    The most frequent outcome gets *width* cells; any outcome seen at least
    once gets at least one cell, so a rare outcome never looks impossible.
    """
    ranked = ranked_counts(counts)[:top]
    peak = max((count for _, count in ranked), default=0)
    rows = []
    for outcome, count in ranked:
        cells = 0 if peak == 0 or count <= 0 else max(1, round(width * count / peak))
        rows.append(BarRow(outcome, count, cells))
    return rows


def counts_table(counts: Mapping[str, int], top: int | None = DEFAULT_TOP) -> Table:
    """Outcome, count and share of shots, most frequent first."""
    total = sum(counts.values())
    table = Table(title="counts", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("outcome", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    ranked = ranked_counts(counts)
    for outcome, count in ranked[:top]:
        _add_row(table, outcome, str(count), _share(count, total))
    hidden = len(ranked) - len(ranked[:top])
    if hidden > 0:
        rest = sum(count for _, count in ranked[top:])
        _add_row(table, f"… {hidden} more", str(rest), _share(rest, total), style="dim")
    return table


def counts_chart(
    counts: Mapping[str, int], width: int = DEFAULT_BAR_WIDTH, top: int | None = DEFAULT_TOP
) -> Table:
    """A horizontal bar chart of the most frequent outcomes."""
    total = sum(counts.values())
    chart = Table.grid(padding=(0, 1))
    chart.add_column(no_wrap=True)
    chart.add_column(no_wrap=True)
    chart.add_column(justify="right", no_wrap=True)
    for row in bar_rows(counts, width, top):
        bar = Text(BAR_CHAR * row.cells, style="magenta")
        _add_row(chart, row.outcome, bar, f"{row.count} ({_share(row.count, total)})")
    return chart


def result_view(result: JSON, top: int | None = DEFAULT_TOP) -> Group:
    """A job's result: what ran where, the counts table and the bar chart."""
    counts: Mapping[str, int] = result.get("counts", {})
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    _add_row(summary, "job", str(result.get("job_id", "")))
    _add_row(summary, "backend", str(result.get("backend", "")))
    _add_row(summary, "shots", str(result.get("shots", "")))
    _add_row(summary, "seed", str(result.get("seed", "")))
    _add_row(summary, "execution time", f"{float(result.get('execution_time_s', 0.0)):.3f} s")
    _add_row(summary, "distinct outcomes", str(len(counts)))
    chart = counts_chart(counts, top=top)
    return Group(summary, Text(""), counts_table(counts, top), Text(""), chart)


def state_text(state: str) -> Text:
    return Text(state, style=_STATE_STYLES.get(state, ""))


def format_time(value: str | None, *, millis: bool = True) -> str:
    """An API timestamp in UTC, e.g. ``2025-01-31 12:00:00.123Z`` (or without milliseconds)."""
    if not value:
        return ""
    at = _parse_time(value)
    if not millis:
        return at.strftime("%Y-%m-%d %H:%M:%SZ")
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def jobs_table(jobs: Iterable[JSON]) -> Table:
    """One row per job: id, state, backend, shots, submission time, tags."""
    table = Table(box=box.SIMPLE_HEAD)
    _id_column(table, "job")
    table.add_column("state", no_wrap=True)
    table.add_column("backend", no_wrap=True)
    table.add_column("shots", justify="right", no_wrap=True)
    table.add_column("submitted (UTC)", no_wrap=True)
    table.add_column("tags", overflow="fold")
    for job in jobs:
        _add_row(
            table,
            str(job["id"]),
            state_text(str(job["state"])),
            str(job["backend"]),
            str(job["shots"]),
            format_time(job.get("created_at"), millis=False),
            ", ".join(job.get("tags") or []),
        )
    return table


def job_view(job: JSON) -> Group:
    """A job's details and its full state history, each step with its time and offset."""
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column()
    _add_row(details, "job", str(job["id"]))
    _add_row(details, "state", state_text(str(job["state"])))
    for key in ("project_id", "owner_id", "backend", "shots", "format", "seed"):
        _add_row(details, key.replace("_id", ""), _plain(job.get(key)))
    _add_row(details, "qubits / depth", f"{_plain(job.get('qubits'))} / {_plain(job.get('depth'))}")
    _add_row(details, "tags", ", ".join(job.get("tags") or []) or "-")
    _add_row(details, "attempts", _plain(job.get("attempts")))
    if job.get("reason"):
        _add_row(details, "reason", str(job["reason"]))
    return Group(details, Text(""), history_table(job.get("history") or []))


def history_table(history: Sequence[JSON]) -> Table:
    """The job's transitions in order, with time since submission."""
    table = Table(title="history", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("state", no_wrap=True)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("+since submit", justify="right", no_wrap=True)
    table.add_column("reason")
    start = _parse_time(str(history[0]["at"])) if history else None
    for step in history:
        at = _parse_time(str(step["at"]))
        offset = f"+{(at - start).total_seconds():.3f}s" if start else ""
        _add_row(
            table,
            state_text(str(step["state"])),
            format_time(str(step["at"])),
            offset,
            str(step.get("reason") or ""),
        )
    return table


def backends_table(backends: Iterable[JSON]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("backend", "kind", "region", "qubits", "depth", "shots", "description"):
        table.add_column(column, no_wrap=column != "description")
    for b in backends:
        _add_row(
            table,
            str(b["name"]),
            str(b["kind"]),
            str(b["region"]),
            f"≤ {b['max_qubits']}",
            f"≤ {b['max_depth']}",
            f"{b['min_shots']}..{b['max_shots']}",
            str(b.get("description", "")),
        )
    return table


def tenants_table(tenants: Iterable[JSON]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    _id_column(table, "tenant")
    for column in ("name", "max running jobs", "created (UTC)"):
        table.add_column(column, overflow="fold")
    for t in tenants:
        row = (str(t["id"]), str(t["name"]), str(t["max_running_jobs"]))
        _add_row(table, *row, format_time(t.get("created_at"), millis=False))
    return table


def projects_table(projects: Iterable[JSON]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    _id_column(table, "project")
    table.add_column("name", overflow="fold")
    _id_column(table, "tenant")
    table.add_column("created (UTC)", overflow="fold")
    for p in projects:
        row = (str(p["id"]), str(p["name"]), str(p["tenant_id"]))
        _add_row(table, *row, format_time(p.get("created_at"), millis=False))
    return table


def audit_table(entries: Iterable[JSON]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    _id_column(table, "actor / target")
    table.add_column("detail", overflow="fold")
    for e in entries:
        outcome = str(e["outcome"])
        _add_row(
            table,
            str(e["index"]),
            format_time(e.get("at"), millis=False),
            str(e["action"]),
            Text(outcome, style="green" if outcome == "success" else "red"),
            f"{_plain(e.get('actor_id'))}\n{_plain(e.get('target'))}",
            str(e.get("detail") or ""),
        )
    return table


def key_values(pairs: Iterable[tuple[str, object]]) -> Table:
    """A two-column grid of labelled values (used by whoami and single-object output)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        _add_row(grid, key, value)
    return grid


def literal(value: object) -> Text:
    """*value* as text shown exactly: never read as rich markup, control characters made visible.

    Values from the API (a reason, an audit detail, a name) pass through
    here, so none can restyle the output, fake a line, or send escape
    sequences to the terminal.
    """
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value)))


def _add_row(table: Table, *cells: object, style: str | None = None) -> None:
    table.add_row(*(c if isinstance(c, Text) else literal(c) for c in cells), style=style)


def _id_column(table: Table, header: str) -> None:
    """Ids are copied and pasted: never truncated or wrapped, whatever the terminal width."""
    table.add_column(header, no_wrap=True, min_width=ID_WIDTH)


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def _plain(value: object) -> str:
    return "-" if value is None else str(value)


def _parse_time(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:  # the API speaks UTC; a naive stamp is UTC too
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)
