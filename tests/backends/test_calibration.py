"""Each device's calibration comes from Qiskit's generic backend, then drifts within bounds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from qplane.backends.calibration import (
    ERROR_STEP,
    TIME_STEP,
    drifted,
    initial_calibration,
)
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.domain import ids
from qplane.domain.calibration import Calibration

DEVICES = ["emu_heavyhex_27", "emu_heavyhex_127", "emu_ion_20"]
T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue() -> BackendCatalogue:
    return default_catalogue()


def _first(catalogue: BackendCatalogue, name: str = "emu_heavyhex_27") -> Calibration:
    return initial_calibration(catalogue.get(name).info, T0)


def _assert_physical(calibration: Calibration) -> None:
    for qubit in calibration.qubits:
        assert 0 < qubit.t2_s <= 2 * qubit.t1_s
        assert 0 < qubit.readout_error < 0.5
        assert 0 < qubit.gate_error < 0.5
    for edge in calibration.edges:
        assert 0 < edge.gate_error < 0.5


@pytest.mark.parametrize("name", DEVICES)
def test_a_devices_first_calibration_covers_every_qubit_and_coupler(
    catalogue: BackendCatalogue, name: str
) -> None:
    info = catalogue.get(name).info

    calibration = initial_calibration(info, T0)

    assert calibration.backend == name
    assert calibration.taken_at == T0
    assert ids.is_well_formed(calibration.id, ids.CALIBRATION)
    assert len(calibration.qubits) == info.limits.max_qubits
    assert [(e.control, e.target) for e in calibration.edges] == list(info.coupling_map)
    _assert_physical(calibration)


def test_the_first_calibration_has_realistic_superconducting_values(
    catalogue: BackendCatalogue,
) -> None:
    medians = _first(catalogue).medians()

    assert 50e-6 < (medians["t1_s"] or 0) < 500e-6
    assert 1e-5 < (medians["gate_error_1q"] or 0) < 1e-3
    assert 1e-4 < (medians["gate_error_2q"] or 0) < 1e-2


def test_the_same_device_starts_from_the_same_values_under_a_new_id(
    catalogue: BackendCatalogue,
) -> None:
    first, again = _first(catalogue), _first(catalogue)

    assert (first.qubits, first.edges) == (again.qubits, again.edges)
    assert first.id != again.id


def test_different_devices_start_from_different_values(catalogue: BackendCatalogue) -> None:
    small = _first(catalogue, "emu_heavyhex_27")
    large = _first(catalogue, "emu_heavyhex_127")

    assert small.qubits != large.qubits[:27]


def test_ion_gates_are_slower_but_no_noisier_than_superconducting_ones(
    catalogue: BackendCatalogue,
) -> None:
    ion, chip = _first(catalogue, "emu_ion_20"), _first(catalogue, "emu_heavyhex_27")

    assert ion.edges[0].gate_time_s > 100 * chip.edges[0].gate_time_s
    assert ion.qubits[0].t1_s > 100 * chip.qubits[0].t1_s
    assert (ion.medians()["gate_error_2q"] or 1) < 1e-2


def test_drift_moves_every_value_a_little_under_a_new_id(catalogue: BackendCatalogue) -> None:
    before = _first(catalogue)
    later = T0 + timedelta(hours=1)

    after = drifted(before, later, seed=5)

    assert after.id != before.id
    assert ids.is_well_formed(after.id, ids.CALIBRATION)
    assert (after.backend, after.taken_at) == (before.backend, later)
    assert after.single_gate_time_s == before.single_gate_time_s
    for old, new in zip(before.qubits, after.qubits, strict=True):
        assert new.t1_s != old.t1_s
        assert abs(math.log(new.t1_s / old.t1_s)) <= TIME_STEP + 1e-12
        assert abs(math.log(new.gate_error / old.gate_error)) <= ERROR_STEP + 1e-12
        assert abs(math.log(new.readout_error / old.readout_error)) <= ERROR_STEP + 1e-12
    for old_edge, new_edge in zip(before.edges, after.edges, strict=True):
        assert new_edge.gate_error != old_edge.gate_error
        assert abs(math.log(new_edge.gate_error / old_edge.gate_error)) <= ERROR_STEP + 1e-12
        assert new_edge.gate_time_s == old_edge.gate_time_s


def test_drift_is_reproducible_per_seed(catalogue: BackendCatalogue) -> None:
    before = _first(catalogue)
    later = T0 + timedelta(hours=1)

    assert drifted(before, later, seed=5).qubits == drifted(before, later, seed=5).qubits
    assert drifted(before, later, seed=5).qubits != drifted(before, later, seed=6).qubits


def test_long_drift_stays_physical_and_bounded(catalogue: BackendCatalogue) -> None:
    calibration = _first(catalogue, "emu_ion_20")

    for step in range(300):
        calibration = drifted(calibration, T0 + timedelta(hours=step), seed=step)
        _assert_physical(calibration)

    assert Calibration.from_json(calibration.to_json()) == calibration


def test_a_calibration_cannot_be_taken_before_the_one_it_follows(
    catalogue: BackendCatalogue,
) -> None:
    with pytest.raises(ValueError, match="before"):
        drifted(_first(catalogue), T0 - timedelta(seconds=1), seed=1)


def test_simulators_have_no_coupling_map_to_calibrate(catalogue: BackendCatalogue) -> None:
    with pytest.raises(ValueError, match="coupling map"):
        initial_calibration(catalogue.get("aer_statevector").info, T0)
