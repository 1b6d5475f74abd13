"""Where calibration records come from: a device's first one, and the drift after it.

The first record of a device is sampled from Qiskit's `GenericBackendV2`
(ranges taken from historical IBM device data), seeded from the device's
name, so every deployment's ``emu_heavyhex_27`` starts from the same values.
The generic backend is always asked for IBM's gate names (``cx``, ``sx``):
its ranges are known for those, and the record itself does not name gates
(one single-qubit error per qubit, one two-qubit error per coupler).
Durations and coherence times are then scaled together to the device's
modelled layer time, so a slow ion chain gets slow gates without any change
in its error per gate (noise depends only on their ratios).

Each later record drifts from the one before: a bounded random walk, each
value moving by a few percent per step, T2 kept at most twice T1 and every
error rate kept strictly between 0 and one half.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from dataclasses import replace
from datetime import datetime
from typing import Final

from qiskit.providers.fake_provider import GenericBackendV2

from qplane.domain import ids
from qplane.domain.backends import BackendInfo
from qplane.domain.calibration import Calibration, EdgeCalibration, QubitCalibration

#: Largest relative move of a coherence time, or of an error rate, per drift step.
TIME_STEP: Final = 0.05
ERROR_STEP: Final = 0.10
#: Bounds every drifted value stays within.
MIN_TIME_S: Final = 1e-6
MAX_TIME_S: Final = 1e3
MIN_ERROR: Final = 1e-6
MAX_ERROR: Final = 0.49

_SOURCE_BASIS: Final = ["cx", "id", "rz", "sx", "x"]


def initial_calibration(info: BackendInfo, at: datetime) -> Calibration:
    """The device's first calibration, taken at *at*: same values for the same device name."""
    if not info.coupling_map:
        raise ValueError("calibrating a device needs its coupling map")
    source = GenericBackendV2(
        info.limits.max_qubits,
        basis_gates=_SOURCE_BASIS,
        coupling_map=[list(edge) for edge in info.coupling_map],
        seed=_name_seed(info.name),
    ).target
    couplers = [source["cx"][edge] for edge in info.coupling_map]
    scale = _time_scale(info.timing.layer_s, statistics.median(c.duration for c in couplers))
    qubits = tuple(
        _qubit(
            properties.t1 * scale,
            properties.t2 * scale,
            readout_error=source["measure"][(index,)].error,
            gate_error=source["sx"][(index,)].error,
        )
        for index, properties in enumerate(source.qubit_properties)
    )
    edges = tuple(
        EdgeCalibration(
            control=control,
            target=target,
            gate_error=_error(coupler.error),
            gate_time_s=coupler.duration * scale,
        )
        for (control, target), coupler in zip(info.coupling_map, couplers, strict=True)
    )
    single = statistics.median(source["sx"][(q,)].duration for q in range(len(qubits)))
    readout = statistics.median(source["measure"][(q,)].duration for q in range(len(qubits)))
    return Calibration(
        id=ids.new_id(ids.CALIBRATION),
        backend=info.name,
        taken_at=at,
        qubits=qubits,
        edges=edges,
        single_gate_time_s=single * scale,
        readout_time_s=readout * scale,
    )


def drifted(previous: Calibration, at: datetime, seed: int) -> Calibration:
    """The next calibration of *previous*'s device, taken at *at*; the same *seed*, the same values.

    Gate and readout durations are properties of the control electronics and
    do not drift; coherence times and error rates do.
    """
    if at < previous.taken_at:
        raise ValueError("a calibration cannot be taken before the one it follows")
    # A model of hardware drift, not a secret: a seeded, reproducible generator is the point.
    walk = random.Random(seed)  # noqa: S311
    qubits = tuple(_drift_qubit(q, walk) for q in previous.qubits)
    edges = tuple(replace(e, gate_error=_step_error(e.gate_error, walk)) for e in previous.edges)
    return replace(
        previous, id=ids.new_id(ids.CALIBRATION), taken_at=at, qubits=qubits, edges=edges
    )


def _drift_qubit(qubit: QubitCalibration, walk: random.Random) -> QubitCalibration:
    return _qubit(
        qubit.t1_s * _factor(walk, TIME_STEP),
        qubit.t2_s * _factor(walk, TIME_STEP),
        readout_error=qubit.readout_error * _factor(walk, ERROR_STEP),
        gate_error=qubit.gate_error * _factor(walk, ERROR_STEP),
    )


def _qubit(t1: float, t2: float, *, readout_error: float, gate_error: float) -> QubitCalibration:
    """A qubit record with every value brought within bounds, and T2 <= 2 x T1."""
    t1 = _time(t1)
    return QubitCalibration(
        t1_s=t1,
        t2_s=min(_time(t2), 2 * t1),
        readout_error=_error(readout_error),
        gate_error=_error(gate_error),
    )


def _factor(walk: random.Random, step: float) -> float:
    return math.exp(walk.uniform(-step, step))


def _step_error(error: float, walk: random.Random) -> float:
    return _error(error * _factor(walk, ERROR_STEP))


def _time(value: float) -> float:
    return min(max(value, MIN_TIME_S), MAX_TIME_S)


def _error(value: float | None) -> float:
    return min(max(value or MIN_ERROR, MIN_ERROR), MAX_ERROR)


def _time_scale(layer_s: float, coupler_s: float) -> float:
    """How much slower than the generic (superconducting) data this device's gates are."""
    return layer_s / coupler_s if layer_s > 0 and coupler_s > 0 else 1.0


def _name_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
