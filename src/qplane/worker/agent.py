"""The execution-plane agent: lease one job, run it in a sandbox, sign and report the result.

The agent holds only its own Ed25519 key. It proves its identity with a
short-lived signed assertion, receives a short-lived internal token, and
talks to the control plane over the internal HTTP API — it never has a
database URL, a tenant key or a user's token. While a job runs it renews its
lease by heartbeat; if the job is cancelled meanwhile, or the lease is lost,
it kills the sandbox.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx

from qplane.backends.base import RunResult
from qplane.domain.errors import QplaneError
from qplane.domain.jobs import SourceFormat
from qplane.identity.workload import WorkerKey, make_client_assertion, sign_result
from qplane.worker.execution_log import ExecutionLog, Scalar
from qplane.worker.sandbox import Sandbox, SandboxError, SandboxRequest

_log = logging.getLogger("qplane.worker")
_TOKEN_PATH: Final = "/internal/v1/token"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    control_plane_url: str
    worker_id: str
    backends: tuple[str, ...] = ()
    idle_poll_s: float = 0.2
    lease_wait_s: float = 10.0
    max_idle_poll_s: float = 2.0
    heartbeat_s: float = 5.0
    cpu_seconds: int = 120
    memory_mb: int = 4096
    wall_timeout_s: float = 600.0
    #: True: trust the usual CA bundle; a path: trust only that CA file (a local CA).
    #: Never False: a worker always verifies the control plane it hands results to.
    verify_tls: bool | str = True
    #: A PEM file with this worker's private key and client certificate (mutual TLS).
    client_cert: str | None = None
    #: The control plane's own URL (its issuer), when *control_plane_url* is another
    #: listener (the internal mTLS one): the sign-in assertion is addressed to it.
    public_url: str | None = None
    #: Lease up to this many jobs at once (one tenant's, on one device) and run them in turn.
    batch_size: int = 1


class LeaseLost(Exception):
    """The control plane no longer recognises our lease (it expired or the job ended)."""


class WorkerAgent:
    def __init__(self, config: AgentConfig, key: WorkerKey) -> None:
        self._config = config
        self._key = key
        self._http = httpx.Client(
            base_url=config.control_plane_url.rstrip("/"), timeout=30.0, verify=_tls(config)
        )
        self._token: str | None = None
        self._token_expiry = 0.0
        self._spare: Sandbox | None = None
        self._waiting = False
        #: Leases of the current batch not yet run: kept alive by the running job's heartbeat.
        self._pending: list[str] = []

    def close(self) -> None:
        if self._spare is not None:
            self._spare.kill()
            self._spare = None
        self._http.close()

    def _sandbox(self) -> Sandbox:
        """The sandbox for the job at hand; a fresh spare starts loading for the next one.

        Each job still gets a child process of its own, never reused; only
        the start-up (interpreter, Qiskit, Aer) moves out of the job's path.
        """
        current = self._spare if self._spare is not None else self._new_sandbox()
        self._spare = self._new_sandbox()
        self._spare.spawn()
        return current

    def _new_sandbox(self) -> Sandbox:
        return Sandbox(
            cpu_seconds=self._config.cpu_seconds,
            memory_mb=self._config.memory_mb,
            wall_seconds=self._config.wall_timeout_s,
            prewarm=True,
        )

    def run_forever(self, stop: threading.Event) -> None:
        """Lease and run jobs until *stop* is set.

        Asking for work is a long poll, so an idle worker waits at the
        control plane, not in a sleep; it backs off only after errors.
        """
        if self._spare is None:
            self._spare = self._new_sandbox()
            self._spare.spawn()
        backoff = self._config.idle_poll_s
        while not stop.is_set():
            try:
                self.run_once()
                backoff = self._config.idle_poll_s
            except (httpx.HTTPError, QplaneError, LeaseLost) as exc:
                _log.warning("worker loop: %s", type(exc).__name__)
                stop.wait(backoff)
                backoff = min(backoff * 2, self._config.max_idle_poll_s)

    @property
    def waiting_for_work(self) -> bool:
        """True while blocked in the lease long poll (safe to interrupt: nothing held)."""
        return self._waiting

    def run_once(self) -> bool:
        """Lease at most one job and see it through. Returns whether a job was leased."""
        self._waiting = True
        try:
            response = self._post(
                f"/internal/v1/leases?wait={self._config.lease_wait_s}",
                {"backends": list(self._config.backends), "max_jobs": self._config.batch_size},
            )
        finally:
            self._waiting = False
        if response.status_code == 204:
            return False
        first = response.json()
        batch = [first, *first.get("batch", [])]
        self._pending = [str(item["lease_id"]) for item in batch[1:]]
        for item in batch:
            lease_id = str(item["lease_id"])
            if item is not first and lease_id not in self._pending:
                continue  # cancelled while it waited its turn
            if lease_id in self._pending:
                self._pending.remove(lease_id)
            try:
                self._execute(item)
            except LeaseLost:
                continue
        return True

    def _execute(self, lease: dict[str, Any]) -> None:
        lease_id = str(lease["lease_id"])
        log = ExecutionLog()
        log.note(
            "leased",
            worker=self._config.worker_id,
            lease=lease_id,
            backend=str(lease["backend"]),
            shots=int(lease["shots"]),
            seed=int(lease["seed"]),
            format=str(lease["format"]),
            time_limit_s=int(lease.get("time_limit_s", self._config.wall_timeout_s)),
            calibration=lease.get("calibration_id"),
        )
        self._post(f"/internal/v1/leases/{lease_id}/start", None)
        sandbox = self._sandbox()
        sandbox.start(
            SandboxRequest(
                source=str(lease["source"]),
                source_format=SourceFormat(str(lease["format"])),
                backend=str(lease["backend"]),
                shots=int(lease["shots"]),
                seed=int(lease["seed"]),
                calibration=lease.get("calibration"),
            )
        )
        log.note(
            "started",
            cpu_limit_s=self._config.cpu_seconds,
            memory_limit_mb=self._config.memory_mb,
        )
        limit = min(self._config.wall_timeout_s, float(lease.get("time_limit_s") or 10**9))
        try:
            result = self._supervise(sandbox, lease_id, log, limit)
        except SandboxError as exc:
            log.note("failed", reason=exc.reason, detail=exc.detail)
            self._post(
                f"/internal/v1/leases/{lease_id}/failure", {"reason": exc.detail, "log": log.text()}
            )
            return
        except LeaseLost:
            sandbox.kill()
            return
        if result is None:  # cancelled: the control plane already knows
            return
        log.note(
            "completed",
            execution_time_s=round(result.execution_time_s, 6),
            outcomes=len(result.counts),
            transpiled_depth=_scalar(result.metadata.get("transpiled_depth")),
            method=_scalar(result.metadata.get("method")),
        )
        self._report(lease, result, log)

    def _supervise(
        self, sandbox: Sandbox, lease_id: str, log: ExecutionLog, limit_s: float
    ) -> RunResult | None:
        """Wait for the sandbox, heartbeating; stop it if the job is cancelled or over time."""
        deadline = time.monotonic() + limit_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sandbox.kill()
                raise SandboxError(
                    f"the job ran longer than its time limit of {limit_s:g} s and was stopped",
                    reason="wall-timeout",
                )
            try:
                return sandbox.wait(timeout=min(self._config.heartbeat_s, remaining))
            except TimeoutError:
                pass
            if not self._heartbeat(lease_id):
                sandbox.kill()
                return None
            log.note("heartbeat")

    def _heartbeat(self, lease_id: str) -> bool:
        response = self._post(f"/internal/v1/leases/{lease_id}/heartbeat", None)
        for waiting in list(self._pending):  # the rest of the batch keeps its leases too
            try:
                alive = self._post(f"/internal/v1/leases/{waiting}/heartbeat", None)
            except LeaseLost:
                alive = None
            if alive is None or not alive.json()["keep_running"]:
                self._pending.remove(waiting)
        return bool(response.json()["keep_running"])

    def _report(self, lease: dict[str, Any], result: RunResult, log: ExecutionLog) -> None:
        payload = result.to_json()
        signature = sign_result(
            self._key, str(lease["job_id"]), str(lease["lease_id"]), payload.encode()
        )
        self._post(
            f"/internal/v1/leases/{lease['lease_id']}/result",
            {"result": payload, "signature": signature, "log": log.text()},
        )

    # -- transport --------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any] | None) -> httpx.Response:
        response = self._http.post(path, json=body, headers=self._auth())
        if response.status_code == 401:  # token expired or key rotated: log in again once
            self._token = None
            response = self._http.post(path, json=body, headers=self._auth())
        if response.status_code == 404 and "/leases/" in path:
            raise LeaseLost(path)
        response.raise_for_status()
        return response

    def _auth(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expiry:
            self._token, ttl = self._exchange()
            self._token_expiry = time.monotonic() + max(ttl - 30, ttl / 2)
        return {"Authorization": f"Bearer {self._token}"}

    def _exchange(self) -> tuple[str, float]:
        audience = (self._config.public_url or self._config.control_plane_url).rstrip("/")
        audience += _TOKEN_PATH
        assertion = make_client_assertion(self._key, self._config.worker_id, audience)
        response = self._http.post(
            _TOKEN_PATH, json={"worker_id": self._config.worker_id, "assertion": assertion}
        )
        response.raise_for_status()
        body = response.json()
        return str(body["access_token"]), float(body["expires_in"])


def _tls(config: AgentConfig) -> ssl.SSLContext:
    """Verify the server (against *verify_tls*'s CA file, if one) and present our certificate."""
    if config.verify_tls is False:
        raise ValueError("a worker must verify the control plane's TLS certificate")
    if isinstance(config.verify_tls, str):
        context = ssl.create_default_context(cafile=config.verify_tls)
    else:
        context = httpx.create_ssl_context()
    if config.client_cert is not None:
        context.load_cert_chain(config.client_cert)
    return context


def _scalar(value: object) -> Scalar:
    return value if isinstance(value, str | int | float | bool) else None
