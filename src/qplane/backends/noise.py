"""An Aer noise model built from a calibration record, for one transpiled circuit.

Each physical gate gets thermal relaxation over its duration (from the qubits'
T1 and T2) composed with a depolarizing error sized so that the pair has the
calibrated gate error, as Aer's own device models do; each measured qubit
gets its readout error. ``rz`` is virtual on these devices (a frame change:
no duration, no error).

Only the operations the circuit actually uses get an error: a 5-qubit
circuit on the 127-qubit device builds a handful of channels, not hundreds
(composing a two-qubit channel costs milliseconds).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit_aer.noise import (
    NoiseModel,
    QuantumError,
    ReadoutError,
    depolarizing_error,
    thermal_relaxation_error,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from qiskit import QuantumCircuit

    from qplane.domain.calibration import Calibration, QubitCalibration

#: Frame changes: applied in software, free and exact.
VIRTUAL_GATES: Final = frozenset({"rz"})


def noise_model(
    calibration: Calibration, compiled: QuantumCircuit, native_gates: frozenset[str]
) -> NoiseModel:
    """The noise of *compiled*'s physical operations under *calibration*.

    *compiled* is already transpiled to the device, so its qubit indices are
    physical qubits and its two-qubit gates lie on calibrated couplers
    (a coupler without a calibration raises `KeyError`).
    """
    model = NoiseModel(basis_gates=sorted(native_gates))
    edges = {(edge.control, edge.target): edge for edge in calibration.edges}
    arity = {name: get_standard_gate_name_mapping()[name].num_qubits for name in native_gates}
    for name, qubits in _operations(compiled):
        if name == "measure":
            model.add_readout_error(_readout(calibration.qubits[qubits[0]]), list(qubits))
        elif name in VIRTUAL_GATES or arity.get(name) not in (1, 2):
            continue
        elif len(qubits) == 1:
            qubit = calibration.qubits[qubits[0]]
            error = _gate(qubit.gate_error, [qubit], calibration.single_gate_time_s)
            model.add_quantum_error(error, name, list(qubits))
        else:
            edge = edges[(qubits[0], qubits[1])]
            pair = [calibration.qubits[q] for q in qubits]
            model.add_quantum_error(
                _gate(edge.gate_error, pair, edge.gate_time_s), name, list(qubits)
            )
    return model


def _operations(compiled: QuantumCircuit) -> list[tuple[str, tuple[int, ...]]]:
    """Each distinct (operation name, physical qubits) of *compiled*, in first-use order."""
    seen: dict[tuple[str, tuple[int, ...]], None] = {}
    for item in compiled.data:
        qubits = tuple(compiled.find_bit(bit).index for bit in item.qubits)
        seen.setdefault((item.operation.name, qubits), None)
    return list(seen)


def _gate(error: float, qubits: list[QubitCalibration], duration: float) -> QuantumError:
    """Relaxation over *duration*, then depolarizing noise making up the rest of *error*."""
    relaxation = _relaxation(qubits, duration)
    dimension = 1 << len(qubits)
    remaining = max(0.0, error - _relaxation_infidelity(qubits, duration))
    # A depolarizing channel of parameter p has average infidelity p (d - 1) / d;
    # p may go up to d^2 / (d^2 - 1) (the fully depolarizing channel and beyond).
    parameter = min(remaining * dimension / (dimension - 1), dimension**2 / (dimension**2 - 1))
    if parameter <= 0:
        return relaxation
    return relaxation.compose(depolarizing_error(parameter, len(qubits)))


def _relaxation(qubits: Iterable[QubitCalibration], duration: float) -> QuantumError:
    errors = [thermal_relaxation_error(q.t1_s, q.t2_s, duration) for q in qubits]
    combined = errors[0]
    for error in errors[1:]:
        combined = combined.expand(error)  # the next qubit up, as in the gate's own order
    return combined


def _relaxation_infidelity(qubits: list[QubitCalibration], duration: float) -> float:
    """Average gate infidelity of relaxation alone, in closed form.

    Amplitude and phase damping shrink the Bloch vector by e^(-t/T2) across
    and e^(-t/T1) along z, so one qubit's process fidelity is
    (1 + 2 e^(-t/T2) + e^(-t/T1)) / 4; independent qubits multiply.
    """
    process = math.prod(
        (1 + 2 * math.exp(-duration / q.t2_s) + math.exp(-duration / q.t1_s)) / 4 for q in qubits
    )
    dimension = 1 << len(qubits)
    return 1 - (dimension * process + 1) / (dimension + 1)


def _readout(qubit: QubitCalibration) -> ReadoutError:
    error = qubit.readout_error
    return ReadoutError([[1 - error, error], [error, 1 - error]])
