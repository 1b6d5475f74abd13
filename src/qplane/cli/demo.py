"""`qplane demo`: the whole platform on this machine, two tenants, and proof they are isolated.

It starts an `EmbeddedPlatform` (API on a loopback socket, worker processes),
sets up two tenants through the public API exactly as an operator would, runs
circuits for each, then shows that one tenant's token cannot see the other's
jobs, results or projects, and that every audit chain verifies. It exits
non-zero when any of that does not hold, so it doubles as a smoke test.
"""

from __future__ import annotations

import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from qplane.audit.verify import LogReport
from qplane.cli import isolation, render
from qplane.cli.errors import fail, one_line_errors
from qplane.cli.login_flows import enrol_totp_unattended
from qplane.cli.session import console
from qplane.config import Settings
from qplane.embedded import EmbeddedPlatform
from qplane.sdk.client import FINISHED, QplaneClient

OPERATOR_EMAIL: Final = "operator@demo.qplane.local"
TENANTS: Final = ("acme", "globex")

BELL: Final = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
GHZ3: Final = """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
c = measure q;
"""
#: ry(2π/3) then CNOT: |00⟩ a quarter of the time, |11⟩ three quarters.
BIASED_PAIR: Final = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
ry(2*pi/3) q[0];
cx q[0], q[1];
measure q -> c;
"""
#: (label, backend, format, source)
CIRCUITS: Final = (
    ("bell", "aer_statevector", "qasm2", BELL),
    ("ghz-3 (qasm3)", "aer_mps", "qasm3", GHZ3),
    ("biased pair", "aer_density_matrix", "qasm2", BIASED_PAIR),
)


@dataclass
class DemoJob:
    tenant: str
    label: str
    backend: str
    job_id: str
    state: str = "queued"
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class DemoTenant:
    name: str
    tenant_id: str
    project_id: str
    client: QplaneClient
    jobs: list[DemoJob] = field(default_factory=list)


@one_line_errors
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where to keep the data (default: a fresh temp dir)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 2,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the circuits to finish.")
    ] = 300.0,
) -> None:
    """Start qplane locally, run circuits for two tenants and prove they cannot see each other."""
    if data_dir is not None and (data_dir / "qplane.db").exists():
        raise fail(f"{data_dir} already holds a qplane database; the demo needs a fresh one")
    with _data_dir(data_dir) as where:
        settings = Settings(
            data_dir=where, host="127.0.0.1", port=0, public_url=None, database_url=None
        )
        embedded = EmbeddedPlatform(settings, workers=workers)
        try:
            console().print(f"[bold]starting qplane[/] (data: {where}, workers: {workers}) …")
            embedded.start()
            _run(embedded, timeout)
        finally:
            _stop(embedded)


def _run(embedded: EmbeddedPlatform, timeout: float) -> None:
    password = secrets.token_urlsafe(18)
    if embedded.ensure_operator(OPERATOR_EMAIL, password) is None:
        raise fail("the operator already exists in this data dir; use a fresh --data-dir")
    console().print(f"qplane is up at {embedded.url}\n")
    with QplaneClient(embedded.url) as operator:
        operator.login(OPERATOR_EMAIL, password)
        enrol_totp_unattended(operator)  # operator changes need a recent MFA (step-up)
        tenants = [_set_up_tenant(operator, embedded.url, name) for name in TENANTS]
    try:
        for tenant in tenants:
            _submit_all(tenant)
        _wait_all([job for t in tenants for job in t.jobs], {t.name: t for t in tenants}, timeout)
        _show_counts(tenants)
        checks = _prove_isolation(tenants)
        reports = _verify_audit(embedded, tenants)
        _summary(tenants, checks, reports)
    finally:
        for tenant in tenants:
            tenant.client.close()
    _verdict(tenants, checks, reports)


def _set_up_tenant(operator: QplaneClient, url: str, name: str) -> DemoTenant:
    """Tenant, project and admin through the API, then a session as that admin."""
    tenant = operator.create_tenant(name, max_running_jobs=2)
    project = operator.create_project(str(tenant["id"]), "research")
    email, password = f"admin@{name}.example", secrets.token_urlsafe(18)
    operator.create_user(str(tenant["id"]), email, password, ["tenant_admin", "member"])
    client = QplaneClient(url)
    client.login(email, password)
    console().print(
        f"tenant [bold]{name}[/] {tenant['id']}: project {project['id']}, admin {email}"
    )
    return DemoTenant(name, str(tenant["id"]), str(project["id"]), client)


def _submit_all(tenant: DemoTenant) -> None:
    for label, backend, fmt, source in CIRCUITS:
        job = tenant.client.submit(
            tenant.project_id, source, backend, 1024, fmt=fmt, tags=["demo"], seed=7
        )
        tenant.jobs.append(DemoJob(tenant.name, label, backend, str(job["id"]), str(job["state"])))


def _wait_all(jobs: list[DemoJob], tenants: dict[str, DemoTenant], timeout: float) -> None:
    """Poll every job until all finish, one progress line each; raises TimeoutError."""
    console().print()
    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=console()) as progress:
        tasks = {
            job.job_id: progress.add_task(
                f"{job.tenant:<7} {job.label:<14} on {job.backend:<18}", total=1, state=job.state
            )
            for job in jobs
        }
        pending = list(jobs)
        while pending:
            for job in list(pending):
                job.state = str(tenants[job.tenant].client.job(job.job_id)["state"])
                done = job.state in FINISHED
                progress.update(tasks[job.job_id], state=job.state, completed=int(done))
                if done:
                    pending.remove(job)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} demo jobs still running after {timeout:.0f}s")
            time.sleep(0.2 if pending else 0)


def _show_counts(tenants: list[DemoTenant]) -> None:
    for tenant in tenants:
        for job in tenant.jobs:
            if job.state != "verified":
                console().print(f"\n[red]{tenant.name} {job.label}: {job.state}[/]")
                continue
            job.counts = dict(tenant.client.result(job.job_id)["counts"])
            console().print(f"\n[bold]{tenant.name}[/] {job.label} on {job.backend} ({job.job_id})")
            console().print(render.counts_chart(job.counts, width=30, top=8))


def _prove_isolation(tenants: list[DemoTenant]) -> list[isolation.IsolationCheck]:
    """Every tenant probes every other tenant's first job and project, with every probe."""
    console().print("\n[bold]tenant isolation[/]: each tenant's token probes the other's objects")
    checks = []
    for attacker in tenants:
        for victim in tenants:
            if victim is attacker or not victim.jobs:
                continue
            for probe in isolation.PROBES:
                target = victim.project_id if probe.target_kind == "prj" else victim.jobs[0].job_id
                result = isolation.check(attacker.client, attacker.name, victim.name, probe, target)
                mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
                console().print(f"  {mark} {result.describe()}", soft_wrap=True)
                checks.append(result)
    return checks


def _verify_audit(embedded: EmbeddedPlatform, tenants: list[DemoTenant]) -> list[LogReport]:
    """Verify every chain locally (database) and each tenant's chain on the server."""
    assert embedded.platform is not None
    reports = embedded.platform.audit.verify_all()
    names = {t.tenant_id: f"{t.name} ({t.tenant_id})" for t in tenants}
    console().print("\n[bold]audit logs[/] (verified from the database)")
    for report in reports:
        status = "[green]intact[/]" if report.ok else f"[red]{report.describe()}[/]"
        chain = names.get(report.log, report.log)
        console().print(f"  {chain}: {report.entries} entries, {status}")
    for tenant in tenants:
        remote = tenant.client.audit_verify()
        status = "intact" if remote["ok"] else f"BROKEN: {remote['problem']}"
        console().print(f"  {tenant.name}: the server's own verification says {status}")
        if not remote["ok"]:  # the server disagrees with the database: count it as broken
            problem = f"server-side verification: {remote['problem']}"
            reports.append(
                LogReport(
                    tenant.tenant_id,
                    int(remote["entries"]),
                    int(remote["checkpoints"]),
                    remote["first_bad_index"],
                    remote["bad_checkpoint"],
                    problem,
                )
            )
    return reports


def _summary(
    tenants: list[DemoTenant],
    checks: list[isolation.IsolationCheck],
    reports: list[LogReport],
) -> None:
    console().print()
    table = Table(title="summary", title_justify="left")
    for column in ("tenant", "jobs", "states", "isolation checks passed", "audit log"):
        table.add_column(column)
    for tenant in tenants:
        states: dict[str, int] = {}
        for job in tenant.jobs:
            states[job.state] = states.get(job.state, 0) + 1
        mine = [c for c in checks if c.victim == tenant.name]
        chain = [r for r in reports if r.log == tenant.tenant_id]
        table.add_row(
            tenant.name,
            str(len(tenant.jobs)),
            ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
            f"{sum(c.passed for c in mine)}/{len(mine)}",
            "intact" if chain and all(r.ok for r in chain) else "[red]NOT intact[/]",
        )
    console().print(table)
    intact = sum(r.ok for r in reports)
    console().print(f"audit logs intact: {intact}/{len(reports)}")


def _verdict(
    tenants: list[DemoTenant],
    checks: list[isolation.IsolationCheck],
    reports: list[LogReport],
) -> None:
    """Exit non-zero, in one line, if anything the demo set out to show did not hold."""
    leaks = [c for c in checks if not c.passed]
    if leaks:
        raise fail(f"ISOLATION FAILED: {len(leaks)} probe(s) not refused as missing objects")
    broken = [r for r in reports if not r.ok]
    if broken:
        raise fail(broken[0].describe())
    unfinished = [j for t in tenants for j in t.jobs if j.state != "verified"]
    if unfinished:
        job = unfinished[0]
        raise fail(f"{len(unfinished)} demo job(s) did not verify ({job.job_id}: {job.state})")
    console().print(
        f"[bold green]isolation holds[/]: {len(checks)}/{len(checks)} probes refused with 404"
    )


@contextmanager
def _data_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        yield chosen
        return
    with tempfile.TemporaryDirectory(prefix="qplane-demo-", ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)


def _stop(embedded: EmbeddedPlatform) -> None:
    """Stop the platform; a second Ctrl-C must not leave worker processes behind."""
    if threading.current_thread() is not threading.main_thread():
        embedded.stop()  # signal handlers can only be changed on the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        console().print("stopping qplane …")
        embedded.stop()
    finally:
        signal.signal(signal.SIGINT, previous)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
