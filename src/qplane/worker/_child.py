"""The sandboxed child: read one job from stdin, run it, write one JSON reply on stdout.

Started only by `qplane.worker.sandbox.Sandbox`, with an empty environment,
resource limits already applied, and ``python -I -B``. It trusts nothing in
the request: the circuit is validated again against the backend's limits
before it runs, and a device's calibration record is parsed strictly and
must be of that device. Replies carry a reason slug and fixed wording, never the
circuit source or a simulator's raw message.

Heavy imports (Qiskit, Aer) happen inside `main`, after the request is read,
so that a memory limit too small to load them is reported as
``memory-limit`` rather than as a crash.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from qplane.domain.backends import BackendInfo
    from qplane.domain.calibration import Calibration

#: Requests above this size are refused unread (the control plane's own
#: payload limit is far lower).
MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024
#: Address space kept free for transpiling and result handling.
_HEADROOM_MB: Final = 256
#: One thread per job, whatever library is asked: fairness between jobs, and
#: a CPU limit that means the same on every machine.
_THREAD_VARIABLES: Final = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "QISKIT_NUM_PROCS",
)
_MAPPING_FAILURE_MARKERS: Final = ("cannot allocate memory", "failed to map segment")

Reply = dict[str, object]


def main() -> None:
    """Serve exactly one request; always try to write exactly one reply.

    With ``--prewarm`` the simulators are loaded before the request is read
    (the worker starts such a child ahead of its next job); a load that
    fails is still answered, once the request arrives, with the reason.
    """
    # Snapshot first: this is what the parent gave us (the diagnostic reports it).
    inherited = sorted(os.environ)
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    try:
        if "--prewarm" in sys.argv[1:]:
            _preload()
        reply = _serve(inherited)
    except MemoryError:
        reply = _failure("memory-limit")
    except ImportError as exc:
        # Under RLIMIT_AS, loading a shared library fails with ImportError.
        marker = any(m in str(exc).lower() for m in _MAPPING_FAILURE_MARKERS)
        reply = _failure("memory-limit" if marker else "crashed")
    except Exception:
        reply = _failure("crashed")
    sys.stdout.write(json.dumps(reply))
    sys.stdout.flush()
    # The reply is out; skip interpreter teardown (tens of ms with Qiskit loaded).
    os._exit(0)


def _preload() -> None:
    """Load and exercise the simulator stack once, so the job finds it warm.

    Runs before any request exists: nothing of a tenant is touched here.
    """
    from qplane.backends.catalogue import default_catalogue
    from qplane.broker.validation import parse_circuit
    from qplane.domain.jobs import SourceFormat

    warmup = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; creg c[1]; h q[0]; measure q -> c;'
    backend = default_catalogue().get("aer_statevector")
    backend.run(parse_circuit(warmup, SourceFormat.QASM2), 1, 0)


def _serve(inherited: list[str]) -> Reply:
    raw = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        return _failure("invalid-job")
    try:
        request = json.loads(raw)
    except ValueError:
        return _failure("invalid-job")
    if not isinstance(request, dict):
        return _failure("invalid-job")
    if request.get("mode") == "diagnose":
        return {"ok": True, "diagnostics": _diagnostics(inherited)}
    return _run(request)


def _run(request: dict[str, object]) -> Reply:
    from qplane.backends.base import BackendError
    from qplane.backends.catalogue import default_catalogue
    from qplane.broker.validation import validate_submission
    from qplane.domain.errors import ValidationFailed
    from qplane.domain.jobs import SourceFormat

    source, fmt, backend_name = request.get("source"), request.get("format"), request.get("backend")
    shots, seed = request.get("shots"), request.get("seed")
    calibration_text = request.get("calibration")
    if not (
        isinstance(source, str)
        and fmt in {f.value for f in SourceFormat}
        and isinstance(backend_name, str)
        and isinstance(shots, int)
        and isinstance(seed, int)
        and not isinstance(seed, bool)
        and (calibration_text is None or isinstance(calibration_text, str))
    ):
        return _failure("invalid-job")
    try:
        backend = default_catalogue(max_memory_mb=_free_memory_mb()).get(backend_name)
        calibration = _calibration(calibration_text, backend.info)
        circuit, _ = validate_submission(
            source, SourceFormat(str(fmt)), shots, backend.info, MAX_REQUEST_BYTES
        )
        result = backend.run(circuit, shots, seed, calibration=calibration)
    except ValidationFailed as exc:
        return _failure("invalid-job", limit=exc.extensions.get("limit"))
    except BackendError as exc:
        if exc.reason == "uncalibrated":  # a record that does not fit the device's shape
            return _failure("invalid-job", limit="calibration")
        return _failure(exc.reason)
    return {"ok": True, "result": result.to_json()}


def _calibration(text: str | None, info: BackendInfo) -> Calibration | None:
    """The job's calibration, strictly parsed; a device needs one of its own.

    Raises `ValidationFailed` (``limit="calibration"``) for a malformed
    record, one of another device, or none where the device needs one: the
    control plane leases a device's job with its current calibration, so
    anything else is an invalid job, not a backend failure.
    """
    from qplane.domain.calibration import Calibration
    from qplane.domain.errors import ValidationFailed

    if text is None:
        if info.calibrated:
            raise ValidationFailed("the device needs a calibration", limit="calibration")
        return None
    try:
        calibration = Calibration.from_json(text)
    except ValidationFailed:
        raise ValidationFailed("the calibration is malformed", limit="calibration") from None
    if calibration.backend != info.name:
        raise ValidationFailed("the calibration is of another device", limit="calibration")
    return calibration


def _free_memory_mb() -> int | None:
    """What the address-space limit leaves for the simulator's state, if limited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, (soft >> 20) - _used_address_space_mb() - _HEADROOM_MB)


def _used_address_space_mb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) >> 10
    return 0


def _diagnostics(inherited: list[str]) -> dict[str, object]:
    """Facts about this process for the sandbox's own tests: names only, never values."""
    limits = {
        name: list(resource.getrlimit(getattr(resource, name)))
        for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_FSIZE")
    }
    return {
        "environment": inherited,
        "limits": limits,
        "session_leader": os.getsid(0) == os.getpid(),
        "cwd": os.getcwd(),
    }


def _failure(reason: str, **extra: object) -> Reply:
    return {"ok": False, "reason": reason, **extra}


if __name__ == "__main__":
    main()
