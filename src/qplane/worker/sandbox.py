"""Run one job in a disposable, resource-limited child process.

Security properties, each covered by a test in ``tests/worker``:

* the child starts with an EMPTY environment (``env={}``) and ``python -I -B``:
  no credential, token or setting of the worker reaches the process that
  handles tenant input, and no user site-packages or ``PYTHON*`` variable
  changes what it imports; it writes no bytecode;
* it runs in its own session (``start_new_session=True``), so `Sandbox.kill`
  ends it and anything it started, in one signal to the process group;
* before ``exec``, ``preexec_fn`` caps CPU seconds (SIGXCPU, then SIGKILL one
  second later), address space, open files and file size, and disables core
  dumps (no memory image of a tenant's circuit on disk);
* a watchdog kills it at its wall-clock limit, whether or not anyone waits;
* its working directory is ``/``; of its stderr only the last few KiB are kept,
  only to tell an out-of-memory abort from a crash: tracebacks may quote the
  circuit, so stderr never reaches a message or a log;
* its reply is bounded in size and checked strictly (`RunResult.from_json`,
  and it must match the request's backend, shots and seed); anything else is
  ``bad-output``.

Every failure is a `SandboxError` whose ``failure`` is a `SandboxFailure`; its
message is fixed wording per reason and never contains the circuit source.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Final

from qplane.backends.base import BackendError, RunResult
from qplane.domain.errors import ValidationFailed
from qplane.domain.jobs import SourceFormat
from qplane.worker.lifetime import die_with_parent

_CHILD: Final = (sys.executable, "-I", "-B", "-m", "qplane.worker._child")
#: File descriptors the child may hold: its pipes and libraries being loaded.
MAX_OPEN_FILES: Final = 64
#: Largest file the child may write. Not 0: importing Qiskit probes the temp
#: directory with a few bytes and fails without a usable one.
MAX_FILE_BYTES: Final = 1024 * 1024
#: Largest reply read from the child (100 000 shots of distinct 63-bit strings fit).
MAX_OUTPUT_BYTES: Final = 32 * 1024 * 1024
_REAP_GRACE_S: Final = 5.0
_STDERR_TAIL_BYTES: Final = 4096
#: How native code reports a failed allocation before it exits or aborts
#: (Python, Rust, C++, OpenBLAS, Aer).
_OUT_OF_MEMORY: Final = (
    b"MemoryError",
    b"memory allocation of",
    b"bad_alloc",
    b"Cannot allocate memory",
    b"Memory allocation still failed",
)
_LIMIT_NAME: Final = re.compile(r"[a-z_]{1,40}")


class SandboxFailure(StrEnum):
    CPU_LIMIT = "cpu-limit"
    MEMORY_LIMIT = "memory-limit"
    WALL_TIMEOUT = "wall-timeout"
    KILLED = "killed"
    BAD_OUTPUT = "bad-output"
    CRASHED = "crashed"
    INVALID_JOB = "invalid-job"
    BACKEND_ERROR = "backend-error"


_MESSAGES: Final = {
    SandboxFailure.CPU_LIMIT: "the job used up its CPU time limit",
    SandboxFailure.MEMORY_LIMIT: "the job needs more memory than its limit",
    SandboxFailure.WALL_TIMEOUT: "the job did not finish in its wall-clock time limit",
    SandboxFailure.KILLED: "the job was stopped before it finished",
    SandboxFailure.BAD_OUTPUT: "the job's sandbox returned malformed output",
    SandboxFailure.CRASHED: "the job's sandbox failed unexpectedly",
    SandboxFailure.INVALID_JOB: "the job was refused by the sandbox's own validation",
    SandboxFailure.BACKEND_ERROR: "the simulator could not run the circuit",
}
#: Reasons a child may report about itself; any other claim is bad output.
_CHILD_REASONS: Final = frozenset(
    {
        SandboxFailure.MEMORY_LIMIT,
        SandboxFailure.CRASHED,
        SandboxFailure.INVALID_JOB,
        SandboxFailure.BACKEND_ERROR,
    }
)


class SandboxError(BackendError):
    """A sandboxed run failed; ``failure`` says why. The message never quotes the circuit."""

    def __init__(self, detail: str, *, reason: str, **extensions: object) -> None:
        failure = SandboxFailure(reason)  # an unknown reason is a programming error
        super().__init__(detail, reason=failure.value, **extensions)
        self.failure = failure

    @classmethod
    def because(cls, failure: SandboxFailure, **extensions: object) -> SandboxError:
        """The error for *failure*, with its fixed, source-free wording."""
        return cls(_MESSAGES[failure], reason=failure.value, **extensions)


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """Everything the child needs to run one job, and nothing else."""

    source: str
    source_format: SourceFormat
    backend: str
    shots: int
    seed: int
    #: The calibration record (JSON) the control plane leased with the job;
    #: a device needs one, and the child parses it strictly.
    calibration: str | None = None

    def __post_init__(self) -> None:
        # Accept the format's string value too (it arrives as JSON); refuse any other.
        object.__setattr__(self, "source_format", SourceFormat(self.source_format))

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "source": self.source,
                "format": self.source_format.value,
                "backend": self.backend,
                "shots": self.shots,
                "seed": self.seed,
                "calibration": self.calibration,
            }
        ).encode("utf-8")


class Sandbox:
    """One child process for one job: `start`, then `poll`/`wait`, or `kill`.

    *diagnostics* (tests only) enables `diagnose`, which reports the child's
    environment variable names and limits; a production sandbox never sends
    that request.
    """

    def __init__(
        self,
        *,
        cpu_seconds: int = 120,
        memory_mb: int = 4096,
        wall_seconds: float = 600.0,
        diagnostics: bool = False,
        prewarm: bool = False,
    ) -> None:
        self._cpu_seconds = cpu_seconds
        self._memory_mb = memory_mb
        self._wall_seconds = wall_seconds
        self._diagnostics = diagnostics
        self._prewarm = prewarm
        self._request: SandboxRequest | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None
        self._stderr: threading.Thread | None = None
        self._stderr_tail = b""
        self._output = b""
        self._overflow = False
        self._killed = False
        self._expired = False

    @property
    def pid(self) -> int | None:
        """The child's process id (and process group id), once started."""
        return None if self._process is None else self._process.pid

    def spawn(self) -> None:
        """Start the child ahead of its job, so it is ready when the job arrives.

        With *prewarm*, the child loads the simulators while it waits; the
        job then pays no interpreter or import start-up. The wall-clock limit
        only starts counting when `start` hands the job over.
        """
        if self._process is None:
            self._launch()

    def start(self, request: SandboxRequest) -> None:
        """Start the child (unless `spawn` did) and hand it *request*; returns at once."""
        self._request = request
        self._spawn(request.to_json())

    def poll(self) -> bool:
        """True once the child has exited and its reply is read (`wait` will not block)."""
        return self._pump is not None and not self._pump.is_alive()

    def wait(self, timeout: float) -> RunResult:
        """The run's result, waiting at most *timeout* seconds for it.

        Raises `TimeoutError` if the child is still running after *timeout*
        (it keeps running: wait again, or `kill` it), and `SandboxError` for
        every way the run can fail, ``wall-timeout`` included.
        """
        reply = self._reply(timeout)
        result = reply.get("result")
        if set(reply) != {"ok", "result"} or not isinstance(result, str):
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        try:
            run = RunResult.from_json(result)
        except ValidationFailed:
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT) from None
        request = self._request
        if request is None or (run.backend, run.shots, run.seed) != (
            request.backend,
            request.shots,
            request.seed,
        ):
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        return run

    def kill(self) -> None:
        """Stop the child and everything in its process group (cancellation)."""
        self._killed = True
        self._kill_group()

    def diagnose(self, timeout: float = 60.0) -> dict[str, object]:
        """Tests only: what the child sees of its environment and limits."""
        if not self._diagnostics:
            raise RuntimeError("diagnostics are disabled for this sandbox")
        self._spawn(b'{"mode": "diagnose"}')
        diagnostics = self._reply(timeout).get("diagnostics")
        if not isinstance(diagnostics, dict):
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        return {str(key): value for key, value in diagnostics.items()}

    def _spawn(self, payload: bytes) -> None:
        if self._pump is not None:
            raise RuntimeError("a sandbox runs exactly one child")
        if self._process is None:
            self._launch()
        assert self._process is not None
        self._watchdog = threading.Timer(self._wall_seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._pump = threading.Thread(
            target=self._exchange, args=(self._process, payload), daemon=True
        )
        self._pump.start()

    def _launch(self) -> None:
        self._process = subprocess.Popen(
            [*_CHILD, "--prewarm"] if self._prewarm else _CHILD,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},
            cwd="/",
            start_new_session=True,
            close_fds=True,
            preexec_fn=partial(_apply_limits, self._cpu_seconds, self._memory_mb),
        )
        self._stderr = threading.Thread(target=self._drain, args=(self._process,), daemon=True)
        self._stderr.start()

    def _exchange(self, process: subprocess.Popen[bytes], payload: bytes) -> None:
        # Runs on its own thread: writing and reading the pipes here means a
        # large reply can never deadlock the child against a full pipe.
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None
        assert stdout is not None
        with contextlib.suppress(OSError):  # it died before reading: its exit status says why
            stdin.write(payload)
            stdin.close()
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(stdout.fileno(), 65536):
            size += len(chunk)
            if size > MAX_OUTPUT_BYTES:
                self._overflow = True
                self._kill_group()
                break
            chunks.append(chunk)
        stdout.close()
        process.wait()
        if self._stderr is not None:
            self._stderr.join()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._output = b"".join(chunks)

    def _drain(self, process: subprocess.Popen[bytes]) -> None:
        # Read to the end so the child never blocks on a full pipe; keep the tail.
        stderr = process.stderr
        assert stderr is not None
        tail = b""
        while chunk := os.read(stderr.fileno(), 65536):
            tail = (tail + chunk)[-_STDERR_TAIL_BYTES:]
        stderr.close()
        self._stderr_tail = tail

    def _expire(self) -> None:
        self._expired = True
        self._kill_group()

    def _reply(self, timeout: float) -> dict[str, object]:
        """The child's JSON reply once it exited cleanly; raise for every other outcome."""
        if self._process is None or self._pump is None:
            raise RuntimeError("the sandbox was not started")
        self._pump.join(timeout)
        if self._pump.is_alive():
            raise TimeoutError("the sandboxed job is still running")
        code = self._process.returncode
        if self._killed:
            raise SandboxError.because(SandboxFailure.KILLED)
        if self._expired and code != 0:
            raise SandboxError.because(SandboxFailure.WALL_TIMEOUT, wall_seconds=self._wall_seconds)
        if self._overflow:
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        if code == -signal.SIGXCPU:
            raise SandboxError.because(SandboxFailure.CPU_LIMIT, cpu_seconds=self._cpu_seconds)
        if code == -signal.SIGKILL:
            # Not us: the hard CPU limit or the kernel's out-of-memory killer.
            raise SandboxError.because(SandboxFailure.KILLED, signal="SIGKILL")
        if code != 0:
            if any(marker in self._stderr_tail for marker in _OUT_OF_MEMORY):
                raise SandboxError.because(SandboxFailure.MEMORY_LIMIT, memory_mb=self._memory_mb)
            raise SandboxError.because(SandboxFailure.CRASHED, exit_status=code)
        return self._decode()

    def _decode(self) -> dict[str, object]:
        try:
            reply = json.loads(self._output)
        except ValueError:
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        if reply["ok"]:
            return {str(key): value for key, value in reply.items()}
        reason = reply.get("reason")
        if reason not in _CHILD_REASONS:
            raise SandboxError.because(SandboxFailure.BAD_OUTPUT)
        failure = SandboxFailure(reason)
        extensions: dict[str, object] = {}
        limit = reply.get("limit")
        if isinstance(limit, str) and _LIMIT_NAME.fullmatch(limit):
            extensions["limit"] = limit
        if failure is SandboxFailure.MEMORY_LIMIT:
            extensions["memory_mb"] = self._memory_mb
        raise SandboxError.because(failure, **extensions)

    def _kill_group(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        # ESRCH: it exited and was reaped between the check and here.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def run_in_sandbox(
    request: SandboxRequest,
    *,
    cpu_seconds: int = 120,
    memory_mb: int = 4096,
    wall_seconds: float = 600.0,
) -> RunResult:
    """Run *request* in a fresh sandbox and wait for it (at most *wall_seconds*)."""
    sandbox = Sandbox(cpu_seconds=cpu_seconds, memory_mb=memory_mb, wall_seconds=wall_seconds)
    sandbox.start(request)
    try:
        return sandbox.wait(wall_seconds + _REAP_GRACE_S)
    except TimeoutError:  # the watchdog should have fired; never leave a child behind
        sandbox.kill()
        raise SandboxError.because(SandboxFailure.WALL_TIMEOUT, wall_seconds=wall_seconds) from None


def _apply_limits(cpu_seconds: int, memory_mb: int) -> None:
    """Runs in the forked child before exec: only system calls, no imports, no threads.

    The child is also told to die with its worker, so a worker killed
    mid-job never leaves a simulation running unsupervised.
    """
    die_with_parent(signal.SIGKILL)
    _cap(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    _cap(resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20)
    _cap(resource.RLIMIT_CORE, 0, 0)
    _cap(resource.RLIMIT_NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES)
    _cap(resource.RLIMIT_FSIZE, MAX_FILE_BYTES, MAX_FILE_BYTES)


def _cap(kind: int, soft: int, hard: int) -> None:
    # Lower limits only: an unprivileged process cannot raise its hard limit.
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))
