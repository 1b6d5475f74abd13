"""The embedded platform: control plane, scheduler and workers in one process tree.

`qplane up`, `qplane demo`, the end-to-end tests and the benchmarks all start
qplane through `EmbeddedPlatform`, so they exercise the same path a real
deployment does: HTTP API on a socket, workers as separate processes that
authenticate with their own keys and see nothing but the internal API.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Final

import uvicorn

from qplane.api.app import create_app
from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.identity.workload import WorkerKey
from qplane.worker.lifetime import die_with_parent

_log = logging.getLogger("qplane.embedded")
_START_TIMEOUT_S: Final = 30.0
#: Environment a worker process inherits: enough to run Python, nothing secret.
_WORKER_ENV_KEYS: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


class EmbeddedPlatform:
    """Runs the API server in a thread and *workers* worker processes beside it."""

    def __init__(self, settings: Settings, workers: int = 1, run_sweeper: bool = True) -> None:
        self.settings = settings
        self._workers_wanted = workers
        self._run_sweeper = run_sweeper
        self._socket = _bind(settings.host, settings.port)
        port = self._socket.getsockname()[1]
        if settings.port == 0 or settings.public_url is None:
            self.settings = settings.model_copy(
                update={"port": port, "public_url": f"http://{settings.host}:{port}"}
            )
        self.platform: Platform | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._worker_procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return self.settings.issuer

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
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="qplane-api",
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        for index in range(self._workers_wanted):
            self.start_worker(f"embedded-{index + 1}")

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
        proc = spawn_worker(self.url, record.id, key_file, self.settings)
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
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.platform is not None:
            self.platform.close()
        self._socket.close()


def spawn_worker(
    url: str, worker_id: str, key_file: Path, settings: Settings
) -> subprocess.Popen[bytes]:
    """Start `qplane worker` as a separate process with a scrubbed environment.

    The child gets the control-plane URL, its id and its key file — never the
    database URL, the root key or any other QPLANE_ setting of the server.
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
