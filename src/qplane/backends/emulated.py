"""Emulated QPUs: hardware-like devices whose noise comes from a calibration record.

An `EmulatedQpu` behaves as a device does: a circuit is transpiled to its
coupling map and native gates, then sampled under the noise of the
calibration the control plane leased with the job (Aer, one thread, seeded,
so the same circuit, shots, seed and calibration give the same counts). It
refuses to run without a calibration (``uncalibrated``): a result must
always name the calibration that shaped it.

Tenants write the same gates as on the simulators (`writable_gates` of the
statevector method), so a job moves between a simulator and an emulated
device by its backend name alone. Aer simulates only the qubits a circuit
touches, so a small circuit on the 127-qubit device stays cheap; a wide,
entangled one needs the memory a real statevector needs and fails as
``memory-limit`` when it does not fit.

Construction is cheap (the child process builds the catalogue for every
job): the transpiler target is built on first use, the noise model per run.
"""

from __future__ import annotations

import functools
import time

import qiskit
import qiskit_aer
from qiskit import QuantumCircuit, transpile
from qiskit.transpiler import CouplingMap, Target
from qiskit_aer import AerSimulator

from qplane.backends.aer import simulator_failure, writable_gates
from qplane.backends.base import BackendError, MetadataValue, RunResult, check_run_arguments
from qplane.backends.noise import noise_model
from qplane.domain.backends import BackendInfo, BackendKind, BackendLimits, DeviceTiming
from qplane.domain.calibration import Calibration

#: Operations every device executes besides its gates.
_NON_GATES = ("measure", "reset")


@functools.cache
def standard_writable_gates() -> frozenset[str]:
    """What tenants may write on every device: the same set as the statevector simulator."""
    return writable_gates(AerSimulator(method="statevector"))


class EmulatedQpu:
    """A hardware-like device, exposed through the `Backend` protocol."""

    def __init__(
        self,
        name: str,
        *,
        description: str,
        region: str,
        num_qubits: int,
        coupling_map: tuple[tuple[int, int], ...],
        native_gates: frozenset[str],
        timing: DeviceTiming,
        max_shots: int,
        max_circuits: int,
        max_depth: int,
        topology: str,
        max_memory_mb: int | None = None,
    ) -> None:
        """Describe the device; nothing is built or simulated until `run`.

        *max_memory_mb* caps the state Aer will allocate, as for `AerBackend`.
        """
        if not coupling_map:
            raise ValueError("an emulated QPU needs its coupling map")
        self._info = BackendInfo(
            name=name,
            kind=BackendKind.QPU,
            region=region,
            description=description,
            limits=BackendLimits(
                max_qubits=num_qubits,
                max_depth=max_depth,
                min_shots=1,
                max_shots=max_shots,
                basis_gates=standard_writable_gates(),
            ),
            production=False,
            max_circuits=max_circuits,
            topology=topology,
            native_gates=native_gates,
            coupling_map=coupling_map,
            exclusive=True,
            timing=timing,
        )
        self._max_memory_mb = max_memory_mb

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
        """Transpile *circuit* to the device and sample it under *calibration*'s noise.

        Raises `BackendError` ``uncalibrated`` without a calibration of this
        device, `ValidationFailed` for arguments outside its limits, and
        `BackendError` when the emulation fails. No message contains the
        circuit.
        """
        calibration = self._check_calibration(calibration)
        check_run_arguments(self._info.limits, circuit, shots, seed)
        started = time.perf_counter()
        try:
            compiled = transpile(
                circuit, target=self._target, optimization_level=1, seed_transpiler=seed
            )
            simulator = AerSimulator(
                noise_model=noise_model(calibration, compiled, self._info.native_gates),
                max_parallel_threads=1,
                max_memory_mb=self._max_memory_mb,
            )
            result = simulator.run(compiled, shots=shots, seed_simulator=seed).result()
        except MemoryError:
            raise
        except Exception as exc:
            raise simulator_failure(str(exc), self._info.name) from None
        elapsed = time.perf_counter() - started
        if not result.success:
            raise simulator_failure(str(result.status), self._info.name)
        counts = {str(key): int(value) for key, value in result.get_counts().items()}
        method = result.results[0].metadata.get("method")
        return RunResult(
            counts=counts,
            shots=shots,
            backend=self._info.name,
            seed=seed,
            execution_time_s=elapsed,
            metadata=self._metadata(compiled, shots, calibration, method),
        )

    @functools.cached_property
    def _target(self) -> Target:
        return Target.from_configuration(
            basis_gates=[*sorted(self._info.native_gates), *_NON_GATES],
            num_qubits=self._info.limits.max_qubits,
            coupling_map=CouplingMap([list(edge) for edge in self._info.coupling_map]),
        )

    def _check_calibration(self, calibration: Calibration | None) -> Calibration:
        """The calibration, if it is one of this device; else ``uncalibrated``.

        It must cover every qubit and exactly the device's couplers, so each
        physical operation has the noise the record gives it.
        """
        if (
            calibration is None
            or calibration.backend != self._info.name
            or len(calibration.qubits) != self._info.limits.max_qubits
            or {(e.control, e.target) for e in calibration.edges} != set(self._info.coupling_map)
        ):
            raise BackendError(
                f"backend '{self._info.name}' runs only under a calibration of its own",
                reason="uncalibrated",
                backend=self._info.name,
            )
        return calibration

    def _metadata(
        self, compiled: QuantumCircuit, shots: int, calibration: Calibration, method: object
    ) -> dict[str, MetadataValue]:
        depth = int(compiled.depth())
        return {
            "simulator": "AerSimulator",
            "method": str(method) if method is not None else None,
            "emulated_device": True,
            "calibration_id": calibration.id,
            "device_time_s": self._info.estimate_seconds(shots, depth),
            "transpiled_depth": depth,
            "qiskit_version": str(qiskit.__version__),
            "qiskit_aer_version": str(qiskit_aer.__version__),
            "max_parallel_threads": 1,
        }
