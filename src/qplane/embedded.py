"""The embedded platform: control plane, scheduler and workers in one process tree.

`qplane up`, `qplane demo`, the end-to-end tests and the benchmarks all start
qplane through `EmbeddedPlatform`, so they exercise the same path a real
deployment does: HTTP API on a socket, workers as separate processes that
authenticate with their own keys and see nothing but the internal API.

With ``settings.tls`` (`qplane up --tls`) it serves HTTPS from a local CA
(`qplane.crypto.local_ca`) on two listeners: the public one (no client
certificates; ``/internal/…`` answers 404 there) and the internal one, which
serves nothing but ``/internal/…`` and completes a TLS handshake only with a
client presenting a certificate issued by that CA. Each embedded worker gets
its own client certificate. See "Transport security" in docs/architecture.md.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

import uvicorn
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from qplane.api.app import create_app
from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.crypto.local_ca import LocalCA
from qplane.identity.workload import WorkerKey
from qplane.worker.lifetime import die_with_parent

_log = logging.getLogger("qplane.embedded")
_START_TIMEOUT_S: Final = 30.0
#: On stop, requests still open after this long are cut: a worker's lease long poll
#: (up to ten seconds) must not hold the shutdown. A lease granted just then is
#: never lost: it expires and its job is queued again.
_GRACEFUL_SHUTDOWN_S: Final = 1
#: Environment a worker process inherits: enough to run Python, nothing secret.
_WORKER_ENV_KEYS: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_INTERNAL_PREFIX: Final = "/internal"
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})
#: TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are all of that).
_TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True)
class WorkerTransport:
    """What a worker needs for mutual TLS with the internal listener.

    *public_url* is the control plane's own URL (its issuer): the worker's
    sign-in assertion is addressed to it, whichever listener carries it.
    """

    ca_file: Path
    client_cert: Path
    public_url: str


class EmbeddedPlatform:
    """Runs the API server in a thread and *workers* worker processes beside it."""

    def __init__(self, settings: Settings, workers: int = 1, run_sweeper: bool = True) -> None:
        self.settings = settings
        self._workers_wanted = workers
        self._run_sweeper = run_sweeper
        self._socket = _bind(settings.host, settings.port)
        port = self._socket.getsockname()[1]
        if settings.port == 0 or settings.public_url is None:
            scheme = "https" if settings.tls else "http"
            self.settings = settings.model_copy(
                update={"port": port, "public_url": f"{scheme}://{_url_host(settings.host)}:{port}"}
            )
        self._internal_socket = (
            _bind(settings.host, settings.internal_port) if settings.tls else None
        )
        self.platform: Platform | None = None
        self.local_ca: LocalCA | None = None
        self._servers: list[tuple[uvicorn.Server, threading.Thread]] = []
        self._worker_procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return self.settings.issuer

    @property
    def internal_url(self) -> str:
        """Where workers reach the internal API: its own mTLS listener with TLS, else `url`."""
        if self._internal_socket is None:
            return self.url
        host = self.settings.host
        if host in _WILDCARD_HOSTS:
            host = "::1" if ":" in host else "127.0.0.1"
        return f"https://{_url_host(host)}:{self._internal_socket.getsockname()[1]}"

    @property
    def ca_file(self) -> Path | None:
        """The local CA certificate clients must trust (with TLS, once started), else None."""
        return self.local_ca.ca_file if self.local_ca is not None else None

    def __enter__(self) -> EmbeddedPlatform:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.platform = build_platform(self.settings)
        app = create_app(self.platform, run_sweeper=self._run_sweeper)
        if self._internal_socket is None:
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
            )
            self._serve("qplane-api", config, self._socket)
        else:
            self._serve_tls(app, self._internal_socket)
        for index in range(self._workers_wanted):
            self.start_worker(f"embedded-{index + 1}")

    def _serve_tls(self, app: ASGIApp, internal_socket: socket.socket) -> None:
        """The public HTTPS listener, then the internal one that requires a client certificate."""
        self.local_ca = LocalCA.load_or_create(self.settings.tls_dir)
        server_file = self.local_ca.server_credentials(_server_names(self.settings))
        public = _tls_config(_ListenerGate(app, internal=False), server_file, client_ca=None)
        self._serve("qplane-api", public, self._socket)
        internal = _tls_config(
            _ListenerGate(app, internal=True), server_file, client_ca=self.local_ca.ca_file
        )
        self._serve("qplane-internal-api", internal, internal_socket)

    def _serve(self, name: str, config: uvicorn.Config, sock: socket.socket) -> None:
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=name
        )
        thread.start()
        self._servers.append((server, thread))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)

    def ensure_operator(self, email: str, password: str | None = None) -> str | None:
        """Create the bootstrap operator if missing; returns the new password, if one was made."""
        assert self.platform is not None
        password = password or secrets.token_urlsafe(18)
        created = self.platform.tenancy.ensure_operator(email, password)
        return password if created is not None else None

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Register (once) and launch a worker process serving every catalogue backend."""
        assert self.platform is not None
        key_file = self.settings.key_dir / "workers" / f"{name}.pem"
        key = WorkerKey.load_or_create(key_file)
        record = self.platform.workers.by_name(name)
        if record is None:
            record = self.platform.workers.register(
                None, name, key.public_jwk_json(), self.platform.catalogue.names()
            )
        transport = None
        if self.local_ca is not None:
            transport = WorkerTransport(
                ca_file=self.local_ca.ca_file,
                client_cert=self.local_ca.worker_credentials(name, record.id),
                public_url=self.url,
            )
        proc = spawn_worker(
            self.internal_url, record.id, key_file, self.settings, transport=transport
        )
        self._worker_procs.append(proc)
        return proc

    @property
    def worker_processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self._worker_procs)

    def stop(self) -> None:
        for proc in self._worker_procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._worker_procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._worker_procs.clear()
        for server, _ in self._servers:
            server.should_exit = True
        for _, thread in self._servers:
            thread.join(timeout=10)
        self._servers.clear()
        if self.platform is not None:
            self.platform.close()
        self._socket.close()
        if self._internal_socket is not None:
            self._internal_socket.close()


def spawn_worker(
    url: str,
    worker_id: str,
    key_file: Path,
    settings: Settings,
    *,
    transport: WorkerTransport | None = None,
) -> subprocess.Popen[bytes]:
    """Start `qplane worker` as a separate process with a scrubbed environment.

    The child gets the control-plane URL, its id and its key file (and with
    *transport*, its client certificate and the CA to verify the server
    with) — never the database URL, the root key, the CA key or any other
    QPLANE_ setting of the server.
    """
    env = {k: os.environ[k] for k in _WORKER_ENV_KEYS if k in os.environ}
    command = [
        sys.executable,
        "-m",
        "qplane",
        "worker",
        "--url",
        url,
        "--worker-id",
        worker_id,
        "--key-file",
        str(key_file),
        "--cpu-seconds",
        str(settings.sandbox_cpu_seconds),
        "--memory-mb",
        str(settings.sandbox_memory_mb),
        "--heartbeat",
        str(max(settings.lease_ttl_s / 3, 0.2)),
    ]
    if transport is not None:
        command += [
            "--ca-file",
            str(transport.ca_file),
            "--client-cert",
            str(transport.client_cert),
            "--public-url",
            transport.public_url,
        ]
    # Its own process group (a terminal's Ctrl-C is for `qplane up`, which stops
    # workers in order), and it dies with the control plane that started it.
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=partial(die_with_parent, signal.SIGTERM),
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


class _ListenerGate:
    """Lets through only the paths that belong on this listener; the rest answer 404.

    On the internal listener that is ``/internal/…`` alone; on the public one
    everything else, so the internal API cannot be reached around the
    client-certificate requirement.
    """

    def __init__(self, app: ASGIApp, *, internal: bool) -> None:
        self._app = app
        self._internal = internal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or _is_internal(scope["path"]) == self._internal:
            await self._app(scope, receive, send)
        elif scope["type"] == "http":
            await _not_here(scope, receive, send)
        else:  # a websocket: refused before it is accepted
            await send({"type": "websocket.close", "code": 1008})


def _is_internal(path: str) -> bool:
    return path == _INTERNAL_PREFIX or path.startswith(_INTERNAL_PREFIX + "/")


async def _not_here(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"type": "about:blank", "title": "Not Found", "status": 404}
    response = JSONResponse(body, status_code=404, media_type="application/problem+json")
    await response(scope, receive, send)


def _tls_config(app: ASGIApp, server_file: Path, *, client_ca: Path | None) -> uvicorn.Config:
    """An HTTPS listener; with *client_ca*, only for clients with a certificate it issued.

    Only the listener without client certificates runs the app's lifespan
    (sweeper, shutdown): the app has one, whichever listeners serve it.
    """
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        lifespan="on" if client_ca is None else "off",
        ssl_certfile=str(server_file),  # the key is in the same (0600) file
        ssl_ciphers=_TLS12_CIPHERS,
        ssl_ca_certs=str(client_ca) if client_ca is not None else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca is not None else ssl.CERT_NONE,
    )


def _server_names(settings: Settings) -> list[str]:
    """Names the server certificate carries besides loopback: host, public URL host, extras."""
    names = [*settings.tls_server_names]
    if settings.host in _WILDCARD_HOSTS:
        names.append(socket.gethostname())
    else:
        names.append(settings.host)
    public_host = urlsplit(settings.issuer).hostname
    if public_host:
        names.append(public_host)
    return names


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
