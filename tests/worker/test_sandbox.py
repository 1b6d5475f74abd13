"""The sandbox runs one job in a limited child that sees nothing of the worker."""

from __future__ import annotations

import os
import sys
import time

import pytest

from qplane.domain.errors import QplaneError
from qplane.domain.jobs import SourceFormat
from qplane.worker import sandbox as sandbox_module
from qplane.worker.sandbox import (
    Sandbox,
    SandboxError,
    SandboxFailure,
    SandboxRequest,
    run_in_sandbox,
)

MARKER = "tenant-secret-circuit-marker"
BELL = f"""OPENQASM 2.0;
include "qelib1.inc";
// {MARKER}
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
#: Tens of seconds of CPU on any machine: 22 qubits, about 50 000 gates.
HEAVY = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
    f"// {MARKER}\nqreg q[22];\ncreg c[22];\n"
    + "".join(
        f"h q;\nrz(0.{i % 9 + 1}) q;\ncx q[{i % 22}], q[{(i * 7 + 3) % 22}];\n" for i in range(1000)
    )
    + "measure q -> c;\n"
)


def _request(
    source: str = BELL, backend: str = "aer_statevector", shots: int = 1000
) -> SandboxRequest:
    return SandboxRequest(source, SourceFormat.QASM2, backend, shots, seed=7)


def _assert_no_source_in(error: SandboxError) -> None:
    assert MARKER not in str(error)
    assert MARKER not in repr(error.extensions)


def test_bell_circuit_gives_about_half_00_and_half_11() -> None:
    result = run_in_sandbox(_request())

    assert set(result.counts) == {"00", "11"}
    assert sum(result.counts.values()) == 1000
    assert 400 < result.counts["00"] < 600
    assert result.backend == "aer_statevector"
    assert result.seed == 7


def test_sandboxed_runs_are_reproducible_per_seed() -> None:
    assert run_in_sandbox(_request()).counts == run_in_sandbox(_request()).counts


def test_child_sees_none_of_the_workers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPLANE_ROOT_KEY", "s3cr3t-root-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")

    diagnostics = Sandbox(diagnostics=True).diagnose()

    # CPython itself sets LC_CTYPE when it coerces the C locale (PEP 538);
    # nothing else may be there.
    environment = diagnostics["environment"]
    assert isinstance(environment, list)
    assert set(environment) <= {"LC_CTYPE"}
    assert "QPLANE_ROOT_KEY" not in environment


def test_child_runs_under_its_resource_limits_in_its_own_session() -> None:
    diagnostics = Sandbox(cpu_seconds=7, memory_mb=1500, diagnostics=True).diagnose()

    assert diagnostics["limits"] == {
        "RLIMIT_CPU": [7, 8],
        "RLIMIT_AS": [1500 << 20, 1500 << 20],
        "RLIMIT_CORE": [0, 0],
        "RLIMIT_NOFILE": [sandbox_module.MAX_OPEN_FILES] * 2,
        "RLIMIT_FSIZE": [sandbox_module.MAX_FILE_BYTES] * 2,
    }
    assert diagnostics["session_leader"] is True
    assert diagnostics["cwd"] == "/"


def test_diagnostics_are_off_unless_the_constructor_enables_them() -> None:
    with pytest.raises(RuntimeError, match="disabled"):
        Sandbox().diagnose()


def test_a_tiny_memory_limit_fails_as_memory_limit() -> None:
    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(), memory_mb=64)

    assert caught.value.failure is SandboxFailure.MEMORY_LIMIT
    assert caught.value.slug == "execution-failed"
    assert isinstance(caught.value, QplaneError)
    _assert_no_source_in(caught.value)


def test_a_state_bigger_than_the_memory_limit_fails_as_memory_limit() -> None:
    wide = (
        f'OPENQASM 2.0;\ninclude "qelib1.inc";\n// {MARKER}\n'
        "qreg q[26];\ncreg c[26];\nh q;\nmeasure q -> c;"
    )

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(wide, shots=1), memory_mb=1200)

    assert caught.value.failure is SandboxFailure.MEMORY_LIMIT
    _assert_no_source_in(caught.value)


def test_cpu_limit_stops_a_long_simulation() -> None:
    started = time.monotonic()

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(HEAVY, shots=1), cpu_seconds=1)

    assert caught.value.failure is SandboxFailure.CPU_LIMIT
    assert caught.value.extensions["cpu_seconds"] == 1
    assert time.monotonic() - started < 10
    _assert_no_source_in(caught.value)


def test_wall_clock_limit_stops_a_long_simulation_even_without_a_waiter() -> None:
    sandbox = Sandbox(wall_seconds=0.5)
    sandbox.start(_request(HEAVY, shots=1))
    time.sleep(1.5)

    assert sandbox.poll()
    with pytest.raises(SandboxError) as caught:
        sandbox.wait(timeout=1)

    assert caught.value.failure is SandboxFailure.WALL_TIMEOUT
    _assert_no_source_in(caught.value)


def test_waiting_less_than_the_run_takes_raises_timeout_and_leaves_it_running() -> None:
    sandbox = Sandbox()
    sandbox.start(_request(HEAVY, shots=1))
    try:
        with pytest.raises(TimeoutError):
            sandbox.wait(timeout=0.1)
        assert not sandbox.poll()
    finally:
        sandbox.kill()


def test_kill_stops_the_whole_process_group() -> None:
    sandbox = Sandbox()
    sandbox.start(_request(HEAVY, shots=1))
    time.sleep(0.3)

    sandbox.kill()

    with pytest.raises(SandboxError) as caught:
        sandbox.wait(timeout=5)
    assert caught.value.failure is SandboxFailure.KILLED
    assert sandbox.pid is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(sandbox.pid, 0)


def test_unknown_backend_is_refused_inside_the_sandbox() -> None:
    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(backend="no_such_backend"))

    assert caught.value.failure is SandboxFailure.INVALID_JOB


def test_the_child_validates_the_job_again() -> None:
    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(shots=10**6))

    assert caught.value.failure is SandboxFailure.INVALID_JOB
    assert caught.value.extensions["limit"] == "max_shots"


def test_request_accepts_the_format_as_its_string_value() -> None:
    request = SandboxRequest(BELL, "qasm2", "aer_statevector", 1, 1)  # type: ignore[arg-type]

    assert request.source_format is SourceFormat.QASM2
    with pytest.raises(ValueError, match="qasm4"):
        SandboxRequest(BELL, "qasm4", "aer_statevector", 1, 1)  # type: ignore[arg-type]


# -- a child that misbehaves: replace the child command with a tiny script --------


def _fake_child(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(sandbox_module, "_CHILD", (sys.executable, "-I", "-c", code))


@pytest.mark.parametrize(
    "code",
    [
        "print('not json')",
        "import sys; sys.stdin.read(); print('[1]')",
        # a result for another seed than the one requested
        "import json; print(json.dumps({'ok': True, 'result': json.dumps({'counts': {'0': 1},"
        " 'shots': 1, 'backend': 'aer_statevector', 'seed': 99, 'execution_time_s': 0.1,"
        " 'metadata': {}})}))",
        # a reason only the parent may decide
        "import json; print(json.dumps({'ok': False, 'reason': 'cpu-limit'}))",
    ],
)
def test_malformed_or_dishonest_child_output_is_bad_output(
    monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    _fake_child(monkeypatch, code)

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(shots=1))

    assert caught.value.failure is SandboxFailure.BAD_OUTPUT


def test_oversized_child_output_is_cut_off_as_bad_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "MAX_OUTPUT_BYTES", 1000)
    _fake_child(monkeypatch, "import sys; sys.stdout.write('x' * 100000)")

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request())

    assert caught.value.failure is SandboxFailure.BAD_OUTPUT


def test_a_crashing_child_is_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_child(monkeypatch, "import os; os.abort()")

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request())

    assert caught.value.failure is SandboxFailure.CRASHED


def test_a_native_allocation_abort_is_a_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_child(
        monkeypatch,
        "import os, sys; sys.stderr.write('memory allocation of 82944 bytes failed\\n');"
        " sys.stderr.flush(); os.abort()",
    )

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request())

    assert caught.value.failure is SandboxFailure.MEMORY_LIMIT
