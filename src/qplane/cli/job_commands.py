"""Everyday job commands: backends, submit (optionally waiting), jobs, job, cancel, result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final

import typer

from qplane.cli import render
from qplane.cli.circuit_files import FORMATS, read_circuit
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.session import UrlOption, console, open_client, project_of
from qplane.domain.jobs import JobState
from qplane.sdk.client import JSON, QplaneClient

_DEFAULT_WAIT_S: Final = 300.0

ProjectOption = Annotated[str, typer.Option("--project", help="Project id (or name).")]
TopOption = Annotated[
    int, typer.Option("--top", min=1, help="Show this many most frequent outcomes.")
]


@one_line_errors
def backends(url: UrlOption = None) -> None:
    """List the backends you can submit to, with their limits."""
    with open_client(url) as client:
        console().print(render.backends_table(client.backends()))


@one_line_errors
def submit(
    file: Annotated[Path, typer.Argument(help="An OpenQASM 2 or 3 program.", show_default=False)],
    backend: Annotated[str, typer.Option("--backend", help="Where to run it (`qplane backends`).")],
    project: ProjectOption,
    shots: Annotated[int, typer.Option("--shots", help="How many shots.")] = 1024,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"One of {', '.join(FORMATS)}; default: from the OPENQASM header, "
            "then the extension.",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A label (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Simulator seed.")] = None,
    classification: Annotated[
        str | None,
        typer.Option(
            "--classification",
            help="public, internal (default), confidential or restricted; policies route on it.",
            show_default=False,
        ),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority",
            min=0,
            max=9,
            help="0-9 (default 5): orders your own jobs only.",
            show_default=False,
        ),
    ] = None,
    time_limit: Annotated[
        int | None,
        typer.Option(
            "--time-limit",
            min=1,
            help="Seconds the run may take (default: the platform's).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait and print the result.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds --wait waits at most.")
    ] = _DEFAULT_WAIT_S,
    top: TopOption = render.DEFAULT_TOP,
    url: UrlOption = None,
) -> None:
    """Submit a circuit; with --wait, follow it to the end and show its result."""
    source, chosen = read_circuit(file, fmt)
    with open_client(url) as client:
        job = client.submit(
            project_of(client, project),
            source,
            backend,
            shots,
            fmt=chosen,
            tags=tag,
            seed=seed,
            classification=classification,
            priority=priority,
            time_limit_s=time_limit,
        )
        console().print(render.literal(f"job {job['id']} submitted ({chosen}, {job['state']})"))
        if wait:
            _wait_and_show(client, str(job["id"]), timeout, top)


@one_line_errors
def jobs(
    project: ProjectOption,
    state: Annotated[
        list[JobState] | None, typer.Option("--state", help="Only jobs in this state (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="Page size.")] = 50,
    all_pages: Annotated[bool, typer.Option("--all", help="Every job, not one page.")] = False,
    url: UrlOption = None,
) -> None:
    """List a project's jobs, newest first."""
    states = [s.value for s in state] if state else None
    with open_client(url) as client:
        project_id = project_of(client, project)
        if all_pages:
            console().print(render.jobs_table(list(client.iter_jobs(project_id, states))))
            return
        page = client.jobs(project_id, states, limit)
    console().print(render.jobs_table(page["items"]))
    if page.get("next_cursor"):
        console().print(f"[dim]showing the first {limit}; use --all for every job[/]")


@one_line_errors
def job(job_id: str, url: UrlOption = None) -> None:
    """A job's details and its state history with timestamps."""
    with open_client(url) as client:
        console().print(render.job_view(client.job(job_id)))


@one_line_errors
def cancel(job_id: str, url: UrlOption = None) -> None:
    """Cancel a job that has not finished (a running job stops at its next heartbeat)."""
    with open_client(url) as client:
        cancelled = client.cancel(job_id)
    console().print(render.literal(f"job {cancelled['id']} is {cancelled['state']}"))


@one_line_errors
def result(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")] = False,
    top: TopOption = render.DEFAULT_TOP,
    url: UrlOption = None,
) -> None:
    """A finished job's result: counts table, bar chart, shots, seed, backend and timing."""
    with open_client(url) as client:
        body = client.result(job_id)
    if as_json:
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        console().print(render.result_view(body, top))


@one_line_errors
def circuit(job_id: str, url: UrlOption = None) -> None:
    """A job's circuit source, exactly as submitted (needs read access to circuit artifacts)."""
    with open_client(url) as client:
        body = client.circuit(job_id)
    _print_lines(str(body["source"]))


@one_line_errors
def log(job_id: str, url: UrlOption = None) -> None:
    """A job's execution log: lease, start, heartbeats, completion or failure, with times."""
    with open_client(url) as client:
        text = client.log(job_id)
    _print_lines(text)


def _print_lines(text: str) -> None:
    """Print text from the API line by line, each made safe for the terminal (`render.literal`)."""
    for line in text.splitlines():
        console().print(render.literal(line), soft_wrap=True, highlight=False)


def _wait_and_show(client: QplaneClient, job_id: str, timeout: float, top: int) -> None:
    """Follow the job with a spinner naming its state; show the result, or fail in one line
    (exit 4) when it ends other than verified. Ctrl-C stops waiting, not the job."""
    with console().status(render.literal(f"job {job_id}: submitted")) as status:

        def show(update: JSON) -> None:
            retried = f" (attempt {update['attempts']})" if update.get("attempts", 0) > 1 else ""
            status.update(render.literal(f"job {job_id}: {update['state']}{retried}"))

        final = client.wait(job_id, timeout=timeout, on_update=show)
    if final["state"] != JobState.VERIFIED.value:
        reason = f": {final['reason']}" if final.get("reason") else ""
        raise fail(f"job {job_id} ended {final['state']}{reason}", 4)
    console().print(render.literal(f"job {job_id} verified"))
    console().print(render.result_view(client.result(job_id), top))


def register(app: typer.Typer) -> None:
    app.command("backends")(backends)
    app.command("submit")(submit)
    app.command("jobs")(jobs)
    app.command("job")(job)
    app.command("cancel")(cancel)
    app.command("result")(result)
    app.command("circuit")(circuit)
    app.command("log")(log)
