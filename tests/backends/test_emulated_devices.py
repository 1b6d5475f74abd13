"""Emulated QPUs look and run like hardware: topology, natives, calibrated noise, device time."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping

from qplane.backends.base import Backend, BackendError
from qplane.backends.calibration import drifted, initial_calibration
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.backends.devices import linear_chain
from qplane.backends.emulated import EmulatedQpu
from qplane.broker.validation import validate_submission
from qplane.domain.backends import BackendInfo, BackendKind, DeviceTiming
from qplane.domain.calibration import Calibration
from qplane.domain.errors import ValidationFailed
from qplane.domain.jobs import SourceFormat

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
#: name: (qubits, topology, region, natives, max shots, max circuits)
DEVICES = {
    "emu_heavyhex_27": (27, "heavy-hex", "eu-west", {"cx", "rz", "sx", "x"}, 100_000, 100),
    "emu_heavyhex_127": (127, "heavy-hex", "us-east", {"ecr", "rz", "sx", "x"}, 100_000, 300),
    "emu_ion_20": (20, "linear", "eu-west", {"rxx", "rz", "rx", "ry"}, 10_000, 50),
}


@pytest.fixture(scope="module")
def catalogue() -> BackendCatalogue:
    return default_catalogue()


@pytest.fixture(scope="module")
def calibrations(catalogue: BackendCatalogue) -> dict[str, Calibration]:
    return {name: initial_calibration(catalogue.get(name).info, T0) for name in DEVICES}


def _neighbours(info: BackendInfo) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for control, target in info.coupling_map:
        found[control].add(target)
        found[target].add(control)
    return found


def _connected(neighbours: dict[int, set[int]], qubits: int) -> bool:
    seen, pending = {0}, [0]
    while pending:
        for other in neighbours[pending.pop()] - seen:
            seen.add(other)
            pending.append(other)
    return seen == set(range(qubits))


def _circuit(source: str, backend: Backend, shots: int = 1000) -> QuantumCircuit:
    circuit, _ = validate_submission(source, SourceFormat.QASM2, shots, backend.info, 100_000)
    return circuit


def _bell() -> QuantumCircuit:
    return QuantumCircuit.from_qasm_str(BELL)


@pytest.mark.parametrize("name", DEVICES)
def test_each_device_is_an_exclusive_hardware_like_qpu(
    catalogue: BackendCatalogue, name: str
) -> None:
    qubits, topology, region, natives, max_shots, max_circuits = DEVICES[name]

    info = catalogue.get(name).info

    assert (info.kind, info.calibrated, info.exclusive, info.production) == (
        BackendKind.QPU,
        True,
        True,
        False,
    )
    assert info.limits.max_qubits == qubits
    assert (info.topology, info.region, info.native_gates) == (topology, region, natives)
    assert (info.limits.max_shots, info.max_circuits) == (max_shots, max_circuits)
    assert _connected(_neighbours(info), qubits)
    assert all(0 <= q < qubits for edge in info.coupling_map for q in edge)
    assert all((t, c) in info.coupling_map for c, t in info.coupling_map)


@pytest.mark.parametrize(("name", "couplers"), [("emu_heavyhex_27", 28), ("emu_heavyhex_127", 144)])
def test_heavy_hex_devices_have_at_most_three_neighbours_per_qubit(
    catalogue: BackendCatalogue, name: str, couplers: int
) -> None:
    info = catalogue.get(name).info
    degrees = [len(n) for n in _neighbours(info).values()]

    assert max(degrees) == 3
    assert degrees.count(3) < len(degrees) / 2  # the lattice is mostly degree two
    assert len(info.coupling_map) == 2 * couplers


def test_the_ion_device_is_a_linear_chain(catalogue: BackendCatalogue) -> None:
    info = catalogue.get("emu_ion_20").info

    assert info.coupling_map == linear_chain(20)
    assert {(c, t) for c, t in info.coupling_map if c < t} == {(i, i + 1) for i in range(19)}


def test_tenants_write_the_same_gates_on_devices_as_on_simulators(
    catalogue: BackendCatalogue,
) -> None:
    simulator = catalogue.get("aer_statevector").info.limits.basis_gates

    for name in DEVICES:
        info = catalogue.get(name).info
        assert info.limits.basis_gates == simulator
        assert info.native_gates <= info.limits.basis_gates


@pytest.mark.parametrize("name", DEVICES)
def test_every_writable_gate_runs_on_every_device(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration], name: str
) -> None:
    backend = catalogue.get(name)
    mapping = get_standard_gate_name_mapping()
    circuit = QuantumCircuit(3, 3)
    for gate_name in sorted(backend.info.limits.basis_gates - {"measure", "barrier", "reset"}):
        gate = mapping[gate_name]
        params = [0.3] * len(gate.params)
        circuit.append(type(gate)(*params) if params else gate, range(gate.num_qubits))
    circuit.reset(2)
    circuit.barrier()
    circuit.measure(range(3), range(3))

    result = backend.run(circuit, shots=20, seed=3, calibration=calibrations[name])

    assert sum(result.counts.values()) == 20


def test_calibrated_noise_shows_errors_an_ideal_simulator_never_makes(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    ideal = catalogue.get("aer_statevector").run(_bell(), shots=1000, seed=9)
    noisy = catalogue.get("emu_heavyhex_27").run(
        _bell(), shots=1000, seed=9, calibration=calibrations["emu_heavyhex_27"]
    )

    assert set(ideal.counts) == {"00", "11"}
    errors = noisy.counts.get("01", 0) + noisy.counts.get("10", 0)
    assert 0 < errors < 100
    assert noisy.counts["00"] > 400
    assert noisy.counts["11"] > 400


def test_a_fixed_seed_and_calibration_reproduce_counts_exactly(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    device, calibration = catalogue.get("emu_ion_20"), calibrations["emu_ion_20"]

    first = device.run(_bell(), shots=500, seed=21, calibration=calibration)
    second = device.run(_bell(), shots=500, seed=21, calibration=calibration)

    assert first.counts == second.counts
    assert first.counts != device.run(_bell(), shots=500, seed=22, calibration=calibration).counts


def test_results_name_their_calibration_and_modelled_device_time(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    device = catalogue.get("emu_heavyhex_27")
    later = drifted(calibrations["emu_heavyhex_27"], T0 + timedelta(hours=1), seed=1)

    result = device.run(_bell(), shots=400, seed=2, calibration=later)

    depth = result.metadata["transpiled_depth"]
    assert isinstance(depth, int)
    assert depth >= 3
    assert result.metadata["calibration_id"] == later.id
    assert result.metadata["device_time_s"] == device.info.estimate_seconds(400, depth)
    assert result.metadata["max_parallel_threads"] == 1


def test_device_time_is_overhead_plus_shots_times_repetition_and_layers(
    catalogue: BackendCatalogue,
) -> None:
    info = catalogue.get("emu_ion_20").info
    timing = info.timing

    assert info.estimate_seconds(100, 10) == pytest.approx(
        timing.job_overhead_s + 100 * (timing.shot_s + 10 * timing.layer_s)
    )
    assert info.estimate_seconds(100, None) == info.estimate_seconds(100, 1)
    assert info.estimate_seconds(1000, 10) > catalogue.get("emu_heavyhex_27").info.estimate_seconds(
        1000, 10
    )


def test_a_tiny_circuit_runs_on_the_127_qubit_device(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    result = catalogue.get("emu_heavyhex_127").run(
        _bell(), shots=200, seed=4, calibration=calibrations["emu_heavyhex_127"]
    )

    assert sum(result.counts.values()) == 200
    assert result.metadata["calibration_id"] == calibrations["emu_heavyhex_127"].id


def test_a_device_refuses_to_run_without_a_calibration(catalogue: BackendCatalogue) -> None:
    with pytest.raises(BackendError) as caught:
        catalogue.get("emu_heavyhex_27").run(_bell(), shots=10, seed=1)

    assert caught.value.reason == "uncalibrated"
    assert caught.value.extensions["backend"] == "emu_heavyhex_27"


def test_a_device_refuses_another_devices_calibration(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    with pytest.raises(BackendError) as caught:
        catalogue.get("emu_heavyhex_27").run(
            _bell(), shots=10, seed=1, calibration=calibrations["emu_ion_20"]
        )

    assert caught.value.reason == "uncalibrated"


def test_simulators_ignore_a_calibration(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    simulator = catalogue.get("aer_statevector")
    plain = simulator.run(_bell(), shots=100, seed=5)

    given = simulator.run(_bell(), shots=100, seed=5, calibration=calibrations["emu_ion_20"])

    assert given.counts == plain.counts
    assert "calibration_id" not in given.metadata


def test_the_same_qasm_runs_on_a_simulator_or_a_device_by_name_alone(
    catalogue: BackendCatalogue, calibrations: dict[str, Calibration]
) -> None:
    results = {
        name: catalogue.get(name).run(
            _circuit(BELL, catalogue.get(name)),
            shots=1000,
            seed=7,
            calibration=calibrations.get(name),
        )
        for name in ("aer_statevector", "emu_heavyhex_27")
    }

    for name, result in results.items():
        assert result.backend == name
        assert result.counts["00"] > 400
        assert result.counts["11"] > 400


def test_a_wide_state_over_the_memory_budget_fails_as_memory_limit() -> None:
    device = EmulatedQpu(
        "emu_tiny_memory",
        description="d",
        region="local",
        num_qubits=20,
        coupling_map=linear_chain(20),
        native_gates=frozenset({"cx", "rz", "sx", "x"}),
        timing=DeviceTiming(1.0, 1e-4),
        max_shots=100,
        max_circuits=1,
        max_depth=100,
        topology="linear",
        max_memory_mb=1,
    )
    ghz = QuantumCircuit(20, 20)
    ghz.h(0)
    for qubit in range(19):
        ghz.cx(qubit, qubit + 1)
    ghz.measure(range(20), range(20))

    with pytest.raises(BackendError) as caught:
        device.run(ghz, shots=1, seed=1, calibration=initial_calibration(device.info, T0))

    assert caught.value.reason == "memory-limit"


def test_too_many_qubits_for_the_device_is_refused_naming_it(catalogue: BackendCatalogue) -> None:
    source = BELL.replace("qreg q[2];", "qreg q[28];").replace("creg c[2];", "creg c[28];")

    with pytest.raises(ValidationFailed) as caught:
        _circuit(source, catalogue.get("emu_heavyhex_27"))

    assert "emu_heavyhex_27" in str(caught.value)
    assert "27" in str(caught.value)
    assert caught.value.extensions == {"limit": "max_qubits", "allowed": 27, "actual": 28}
    # The same circuit fits the larger device.
    assert _circuit(source, catalogue.get("emu_heavyhex_127")).num_qubits == 28


def test_a_gate_the_device_cannot_run_is_refused_naming_it(catalogue: BackendCatalogue) -> None:
    source = BELL.replace("h q[0];", "opaque pulse a;\npulse q[0];")

    with pytest.raises(ValidationFailed) as caught:
        _circuit(source, catalogue.get("emu_ion_20"))

    assert str(caught.value) == "backend 'emu_ion_20' cannot run: pulse"
    assert caught.value.extensions["unsupported"] == ["pulse"]


def test_shots_over_the_device_maximum_are_refused_naming_it(catalogue: BackendCatalogue) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _circuit(BELL, catalogue.get("emu_ion_20"), shots=10_001)

    assert str(caught.value) == "shots must be at most 10000 on backend 'emu_ion_20'"
    assert caught.value.extensions == {"limit": "max_shots", "allowed": 10_000, "actual": 10_001}
    # The simulator takes them.
    assert _circuit(BELL, catalogue.get("aer_statevector"), shots=10_001).num_qubits == 2
