"""Commands that run qplane itself: `up`, `worker`, `db upgrade`, `audit verify`."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qplane.audit.service import AuditService
from qplane.audit.signing import CheckpointKeys
from qplane.cli.audit_commands import verify_export_file
from qplane.cli.errors import fail, one_line_errors
from qplane.config import Settings
from qplane.crypto.keyfiles import read_secret_file
from qplane.embedded import EmbeddedPlatform
from qplane.identity.workload import WorkerKey
from qplane.store.database import Database
from qplane.worker.agent import AgentConfig, WorkerAgent

_console = Console()
_DEFAULT_OPERATOR = "admin@qplane.local"

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
worker_app = typer.Typer(
    help="Run an execution-plane worker (or manage its key).", invoke_without_command=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where qplane keeps its data (QPLANE_DATA_DIR).")
]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    settings = Settings()
    update = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        update["data_dir"] = data_dir
    return settings.model_copy(update=update) if update else settings


def _plain(line: str) -> None:
    """One line as is: no markup, and never wrapped (scripts read paths and URLs from it)."""
    _console.print(Text(line), soft_wrap=True)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@one_line_errors
def up(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (0: any free port).")] = None,
    workers: Annotated[int, typer.Option(min=0, max=64, help="Worker processes to run.")] = 1,
    operator_email: Annotated[str, typer.Option(help="Bootstrap operator login.")] = (
        _DEFAULT_OPERATOR
    ),
    tls: Annotated[
        bool | None,
        typer.Option(
            "--tls/--no-tls",
            help="Serve HTTPS from a local CA in the data dir; workers use mutual TLS "
            "(QPLANE_TLS).",
            show_default=False,
        ),
    ] = None,
    internal_port: Annotated[
        int | None,
        typer.Option(help="With --tls: the workers' mutual-TLS port (0: any free port)."),
    ] = None,
) -> None:
    """Start the whole platform on this machine: API, scheduler and workers (SQLite by default)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    settings = _settings(data_dir, host=host, port=port, tls=tls, internal_port=internal_port)
    embedded = EmbeddedPlatform(settings, workers=workers)
    embedded.start()
    try:
        password = embedded.ensure_operator(operator_email)
        _console.print(
            f"[bold green]qplane is up[/] at {embedded.url}  (data: {settings.data_dir})"
        )
        _console.print(f"  OpenAPI: {embedded.url}/docs   workers: {workers}")
        trust = ""
        if embedded.ca_file is not None:
            _plain(f"  TLS CA certificate (clients trust it): {embedded.ca_file}")
            _plain(f"  workers' internal API (mutual TLS): {embedded.internal_url}")
            trust = f" --ca-file {embedded.ca_file}"
        if password is not None:
            _console.print(
                "\n[bold]A platform operator was created. Its password is shown once:[/]"
            )
            _console.print(f"  email:    {operator_email}\n  password: {password}")
            _plain(f"  log in:   qplane login --url {embedded.url} --email {operator_email}{trust}")
            _plain(
                "  then:     qplane mfa enrol   (operator changes need a recent second factor)\n"
            )
        _console.print("Press Ctrl-C to stop.")
        _wait_for_signal()
    finally:
        embedded.stop()


@worker_app.callback()
@one_line_errors
def worker(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(envvar="QPLANE_URL", help="Control-plane URL.")] = None,
    worker_id: Annotated[str | None, typer.Option(envvar="QPLANE_WORKER_ID")] = None,
    key_file: Annotated[Path | None, typer.Option(envvar="QPLANE_WORKER_KEY_FILE")] = None,
    backend: Annotated[list[str] | None, typer.Option(help="Serve only these backends.")] = None,
    cpu_seconds: Annotated[int, typer.Option(min=1)] = 120,
    memory_mb: Annotated[int, typer.Option(min=64)] = 4096,
    heartbeat: Annotated[float, typer.Option(min=0.1)] = 5.0,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            envvar="QPLANE_CA_FILE", help="Trust only this CA for the control plane's certificate."
        ),
    ] = None,
    client_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="QPLANE_WORKER_CLIENT_CERT",
            help="PEM file with this worker's TLS key and client certificate (mutual TLS).",
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="The control plane's public URL, when --url is its internal listener."),
    ] = None,
) -> None:
    """Lease and run jobs for a control plane, authenticating with this worker's own key."""
    if ctx.invoked_subcommand is not None:
        return
    if not (url and worker_id and key_file):
        raise fail("qplane worker needs --url, --worker-id and --key-file")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if client_cert is not None:
        read_secret_file(client_cert)  # holds a private key: refused if others can read it
    config = AgentConfig(
        control_plane_url=url,
        worker_id=worker_id,
        backends=tuple(backend or ()),
        heartbeat_s=heartbeat,
        cpu_seconds=cpu_seconds,
        memory_mb=memory_mb,
        verify_tls=str(ca_file) if ca_file is not None else True,
        client_cert=str(client_cert) if client_cert is not None else None,
        public_url=public_url,
    )
    agent = WorkerAgent(config, WorkerKey.load_or_create(key_file))
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        # Finish the job in hand; but a worker merely waiting for work stops at once.
        stop.set()
        if agent.waiting_for_work:
            raise _Stopped

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        agent.run_forever(stop)
    except _Stopped:
        pass
    finally:
        agent.close()


class _Stopped(Exception):
    """Raised from the signal handler to end a worker's idle long poll."""


@worker_app.command("keygen")
@one_line_errors
def worker_keygen(key_file: Path) -> None:
    """Create this worker's key (0600) if missing and print its public JWK for registration."""
    typer.echo(WorkerKey.load_or_create(key_file).public_jwk_json())


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(data_dir: DataDir = None) -> None:
    """Bring the database schema to the latest revision (QPLANE_DATABASE_URL or the data dir)."""
    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url)
    try:
        database.upgrade()
        typer.echo(f"schema at revision {database.current_revision()}")
    finally:
        database.dispose()


@audit_app.command("verify")
@one_line_errors
def audit_verify(
    export: Annotated[
        Path | None,
        typer.Argument(help="An export file to verify offline (default: the platform database)."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="With an export: a verifier key you trust (repeatable)."),
    ] = None,
    pinned: Annotated[
        Path | None,
        typer.Option("--pinned", help="With an export: a pin (or saved note) it must extend."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Verify every audit log in the platform database, or an export file offline.

    Names the first bad entry or checkpoint and exits non-zero.
    """
    if export is not None:
        verify_export_file(export, key or [], pinned)
        return
    if key or pinned is not None:
        raise fail("--key and --pinned apply to an export file")
    settings = _settings(data_dir)
    database = Database(settings.effective_database_url)
    try:
        keys = CheckpointKeys.load_or_create(
            settings.key_dir, settings.audit_origin, post_quantum=settings.audit_post_quantum
        )
        reports = AuditService(database, keys).verify_all()
    finally:
        database.dispose()
    table = Table("log", "entries", "checkpoints", "status")
    for report in reports:
        status = "[green]intact[/]" if report.ok else f"[red]{report.describe()}[/]"
        table.add_row(report.log, str(report.entries), str(report.checkpoints), status)
    _console.print(table)
    broken = [r for r in reports if not r.ok]
    if broken:
        raise fail(broken[0].describe())
    typer.echo(f"all {len(reports)} audit logs verified")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.add_typer(worker_app, name="worker")
    app.add_typer(db_app, name="db")
    app.add_typer(audit_app, name="audit")
