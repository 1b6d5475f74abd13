"""Qiskit Aer simulators as qplane backends.

Each `AerBackend` wraps one `AerSimulator` method. Runs are single-threaded
(``max_parallel_threads=1``) so that many jobs share a worker machine fairly
and a job's CPU limit means the same on every machine, and they are
reproducible: the same circuit, shots and seed give exactly the same counts
(the seed drives both the transpiler and the simulator).

The gates a tenant may write (``limits.basis_gates``) are the simulator's
native instructions that are also Qiskit standard gates, less anything that
is not a plain unitary gate (noise channels, state save/restore, raw
matrices, timing, control flow), plus ``measure``, ``barrier`` and ``reset``.
Deny by default: a new instruction in a new Aer release is not writable until
it is a known standard gate.
"""

from __future__ import annotations

import time
from typing import Final

import qiskit
import qiskit_aer
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit_aer import AerSimulator

from qplane.backends.base import BackendError, MetadataValue, RunResult, check_run_arguments
from qplane.domain.backends import BackendInfo, BackendKind, BackendLimits
from qplane.domain.calibration import Calibration

#: Always writable: without them a circuit cannot give counts or be structured.
ALWAYS_ALLOWED: Final = frozenset({"measure", "barrier", "reset"})
#: Standard names the simulators support that tenants still may not write:
#: ``delay`` is meaningless on an ideal simulator and ``global_phase`` has no
#: effect on counts (it decomposes to nothing, so writing it still works).
EXCLUDED: Final = frozenset({"delay", "global_phase"})
MAX_DEPTH: Final = 10_000
MIN_SHOTS: Final = 1
MAX_SHOTS: Final = 100_000
REGION: Final = "local"

#: Aer reports these when a state does not fit its memory budget or the
#: process's address-space limit.
_MEMORY_MARKERS: Final = ("insufficient memory", "cannot allocate memory", "bad_alloc")


class AerBackend:
    """One Aer simulation method, exposed through the `Backend` protocol."""

    def __init__(
        self,
        name: str,
        method: str,
        *,
        max_qubits: int,
        description: str,
        max_depth: int = MAX_DEPTH,
        max_memory_mb: int | None = None,
    ) -> None:
        """Build the simulator now, so its supported instructions define the basis.

        *max_memory_mb* caps the state Aer will allocate; the sandbox passes
        what its address-space limit leaves free, so an oversized state is
        refused up front ("insufficient memory") instead of failing mid-run.
        """
        self._simulator = AerSimulator(
            method=method, max_parallel_threads=1, max_memory_mb=max_memory_mb
        )
        self._method = method
        basis = writable_gates(self._simulator)
        self._info = BackendInfo(
            name=name,
            kind=BackendKind.SIMULATOR,
            region=REGION,
            description=description,
            limits=BackendLimits(
                max_qubits=max_qubits,
                max_depth=max_depth,
                min_shots=MIN_SHOTS,
                max_shots=MAX_SHOTS,
                basis_gates=basis,
            ),
        )

    @property
    def info(self) -> BackendInfo:
        return self._info

    def run(
        self,
        circuit: QuantumCircuit,
        shots: int,
        seed: int,
        *,
        calibration: Calibration | None = None,
    ) -> RunResult:
        """Transpile *circuit* to the simulator's target and sample it *shots* times.

        An ideal simulator has no noise, so *calibration* is ignored. Raises
        `ValidationFailed` for arguments outside the backend's limits (the
        broker has already checked them; this is the last line) and
        `BackendError` when the simulator fails. Neither message contains the
        circuit.
        """
        check_run_arguments(self._info.limits, circuit, shots, seed)
        started = time.perf_counter()
        try:
            compiled = transpile(
                circuit,
                target=self._simulator.target,
                optimization_level=1,
                seed_transpiler=seed,
            )
            result = self._simulator.run(compiled, shots=shots, seed_simulator=seed).result()
        except MemoryError:
            raise
        except Exception as exc:
            raise simulator_failure(str(exc), self._info.name) from None
        elapsed = time.perf_counter() - started
        if not result.success:
            raise simulator_failure(str(result.status), self._info.name)
        counts = {str(key): int(value) for key, value in result.get_counts().items()}
        return RunResult(
            counts=counts,
            shots=shots,
            backend=self._info.name,
            seed=seed,
            execution_time_s=elapsed,
            metadata=self._metadata(compiled),
        )

    def _metadata(self, compiled: QuantumCircuit) -> dict[str, MetadataValue]:
        return {
            "simulator": "AerSimulator",
            "method": self._method,
            "qiskit_version": str(qiskit.__version__),
            "qiskit_aer_version": str(qiskit_aer.__version__),
            "max_parallel_threads": 1,
            "transpiled_depth": int(compiled.depth()),
        }


def writable_gates(simulator: AerSimulator) -> frozenset[str]:
    """The gates a tenant may write for *simulator*: see the module docstring."""
    supported = set(simulator.target.operation_names)
    standard = set(get_standard_gate_name_mapping())
    return frozenset((supported & standard) - EXCLUDED) | ALWAYS_ALLOWED


def simulator_failure(message: str, backend: str) -> BackendError:
    """Classify Aer's failure *message* as ``memory-limit`` or ``backend-error``.

    Aer's own message names internal circuit ids and sizes; it stays out of
    the caller-facing detail.
    """
    if any(marker in message.lower() for marker in _MEMORY_MARKERS):
        return BackendError(
            "the simulation needs more memory than the backend allows",
            reason="memory-limit",
            backend=backend,
        )
    return BackendError(
        "the simulator could not run the circuit", reason="backend-error", backend=backend
    )
