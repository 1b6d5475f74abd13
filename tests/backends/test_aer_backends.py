"""Aer backends run real circuits, reproducibly, and only within their limits."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from qplane.backends.aer import AerBackend
from qplane.backends.base import BackendError, RunResult
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.domain.errors import ValidationFailed

UNSAFE_OR_IRRELEVANT = {
    "save_statevector",
    "save_state",
    "set_statevector",
    "kraus",
    "superop",
    "quantum_channel",
    "roerror",
    "initialize",
    "unitary",
    "diagonal",
    "for_loop",
    "while_loop",
    "if_else",
    "switch_case",
    "store",
    "delay",
}


@pytest.fixture(scope="module")
def catalogue() -> BackendCatalogue:
    return default_catalogue()


def _bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def _rotations() -> QuantumCircuit:
    circuit = QuantumCircuit(4, 4)
    for qubit in range(4):
        circuit.ry(0.3 + 0.4 * qubit, qubit)
    circuit.cx(0, 1)
    circuit.cx(2, 3)
    circuit.rx(1.1, 1)
    circuit.measure(range(4), range(4))
    return circuit


@pytest.mark.parametrize("name", ["aer_statevector", "aer_density_matrix", "aer_mps"])
def test_each_catalogue_backend_runs_a_bell_circuit(catalogue: BackendCatalogue, name: str) -> None:
    result = catalogue.get(name).run(_bell(), shots=400, seed=11)

    assert set(result.counts) <= {"00", "11"}
    assert sum(result.counts.values()) == 400
    assert result.backend == name
    assert result.seed == 11
    assert result.execution_time_s > 0
    assert result.metadata["max_parallel_threads"] == 1
    assert result.metadata["qiskit_aer_version"]


def test_backend_metadata_names_the_simulation_method(catalogue: BackendCatalogue) -> None:
    result = catalogue.get("aer_mps").run(_bell(), shots=10, seed=1)

    assert result.metadata["method"] == "matrix_product_state"


def test_a_fixed_seed_reproduces_counts_exactly(catalogue: BackendCatalogue) -> None:
    backend = catalogue.get("aer_statevector")

    first = backend.run(_rotations(), shots=2000, seed=1234)
    second = backend.run(_rotations(), shots=2000, seed=1234)

    assert first.counts == second.counts


def test_different_seeds_give_different_samples(catalogue: BackendCatalogue) -> None:
    backend = catalogue.get("aer_statevector")

    assert (
        backend.run(_rotations(), shots=2000, seed=1).counts
        != backend.run(_rotations(), shots=2000, seed=2).counts
    )


def test_counts_of_several_registers_keep_qiskits_format_and_round_trip(
    catalogue: BackendCatalogue,
) -> None:
    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    circuit = QuantumCircuit(QuantumRegister(3), a, b)
    circuit.x(0)
    circuit.measure(0, a[0])
    circuit.measure([1, 2], [b[0], b[1]])

    result = catalogue.get("aer_statevector").run(circuit, shots=5, seed=3)

    assert result.counts == {"00 1": 5}
    assert RunResult.from_json(result.to_json()) == result


def test_basis_always_allows_measure_barrier_and_reset(catalogue: BackendCatalogue) -> None:
    for info in catalogue.infos():
        assert {"measure", "barrier", "reset"} <= info.limits.basis_gates


def test_basis_excludes_noise_state_access_raw_matrices_and_control_flow(
    catalogue: BackendCatalogue,
) -> None:
    for info in catalogue.infos():
        assert not (info.limits.basis_gates & UNSAFE_OR_IRRELEVANT), info.name
        assert not any(name.startswith(("save_", "set_")) for name in info.limits.basis_gates)


@pytest.mark.parametrize("shots", [0, 100_001])
def test_run_refuses_shots_outside_the_backends_range(
    catalogue: BackendCatalogue, shots: int
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalogue.get("aer_statevector").run(_bell(), shots=shots, seed=1)

    assert caught.value.extensions["limit"] == "shots"


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_run_refuses_a_seed_outside_the_portable_range(
    catalogue: BackendCatalogue, seed: int
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalogue.get("aer_statevector").run(_bell(), shots=1, seed=seed)

    assert caught.value.extensions["limit"] == "seed"


def test_run_refuses_a_circuit_wider_than_the_backend(catalogue: BackendCatalogue) -> None:
    circuit = QuantumCircuit(14, 1)
    circuit.measure(0, 0)

    with pytest.raises(ValidationFailed) as caught:
        catalogue.get("aer_density_matrix").run(circuit, shots=1, seed=1)

    assert caught.value.extensions == {"limit": "max_qubits", "allowed": 13, "actual": 14}


def test_a_state_larger_than_the_memory_budget_fails_as_memory_limit() -> None:
    backend = AerBackend("tiny", "statevector", max_qubits=20, description="d", max_memory_mb=1)
    circuit = QuantumCircuit(20, 20)
    circuit.h(range(20))
    circuit.measure(range(20), range(20))

    with pytest.raises(BackendError) as caught:
        backend.run(circuit, shots=1, seed=1)

    assert caught.value.reason == "memory-limit"
    assert caught.value.slug == "execution-failed"
    assert "circuit-" not in str(caught.value)  # Aer's own message names its internal ids
