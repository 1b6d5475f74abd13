"""A calibration record crosses the worker trust boundary as JSON, so it is checked strictly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qplane.domain import ids
from qplane.domain.calibration import (
    MAX_JSON_BYTES,
    Calibration,
    EdgeCalibration,
    QubitCalibration,
)
from qplane.domain.errors import ValidationFailed

CAL_ID = "cal_" + "ab" * 16
TAKEN_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _record(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": CAL_ID,
        "backend": "emu_test_3",
        "taken_at": "2025-03-01T12:00:00+00:00",
        "qubits": [
            {"t1_s": 1.0e-4, "t2_s": 1.5e-4, "readout_error": 0.01, "gate_error": 2e-4},
            {"t1_s": 2.0e-4, "t2_s": 1.0e-4, "readout_error": 0.03, "gate_error": 4e-4},
            {"t1_s": 3.0e-4, "t2_s": 5.0e-4, "readout_error": 0.02, "gate_error": 3e-4},
        ],
        "edges": [
            {"control": 0, "target": 1, "gate_error": 0.01, "gate_time_s": 4e-7},
            {"control": 1, "target": 0, "gate_error": 0.02, "gate_time_s": 5e-7},
        ],
        "single_gate_time_s": 3.5e-8,
        "readout_time_s": 1.0e-6,
    }
    raw.update(changes)
    return raw


def _qubit(**changes: object) -> dict[str, object]:
    qubit: dict[str, object] = {
        "t1_s": 1e-4,
        "t2_s": 1e-4,
        "readout_error": 0.01,
        "gate_error": 1e-4,
    }
    qubit.update(changes)
    return qubit


def _edge(**changes: object) -> dict[str, object]:
    edge: dict[str, object] = {"control": 0, "target": 1, "gate_error": 0.01, "gate_time_s": 4e-7}
    edge.update(changes)
    return edge


def _parse(raw: dict[str, object]) -> Calibration:
    return Calibration.from_json(json.dumps(raw))


def test_calibration_survives_a_json_round_trip() -> None:
    calibration = _parse(_record())

    assert Calibration.from_json(calibration.to_json()) == calibration
    assert calibration.qubits[1] == QubitCalibration(2.0e-4, 1.0e-4, 0.03, 4e-4)
    assert calibration.edges[0] == EdgeCalibration(0, 1, 0.01, 4e-7)
    assert calibration.taken_at == TAKEN_AT


def test_equal_calibrations_serialise_to_identical_canonical_text() -> None:
    text = _parse(_record()).to_json()
    shuffled = json.dumps(dict(reversed(list(_record().items()))))

    assert Calibration.from_json(shuffled).to_json() == text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_times_are_kept_in_utc_whatever_zone_they_were_written_in() -> None:
    calibration = _parse(_record(taken_at="2025-03-01T14:00:00+02:00"))

    assert calibration.taken_at == TAKEN_AT
    assert calibration.taken_at.tzinfo is UTC
    assert '"taken_at":"2025-03-01T12:00:00+00:00"' in calibration.to_json()


def test_integer_values_are_read_as_floats() -> None:
    calibration = _parse(_record(readout_time_s=1))

    assert isinstance(calibration.readout_time_s, float)


def test_medians_summarise_the_device_without_per_qubit_detail() -> None:
    assert _parse(_record()).medians() == {
        "t1_s": 2.0e-4,
        "t2_s": 1.5e-4,
        "readout_error": 0.02,
        "gate_error_1q": 3e-4,
        "gate_error_2q": 0.015,
    }


def test_medians_of_a_device_without_couplers_have_no_two_qubit_error() -> None:
    assert _parse(_record(edges=[])).medians()["gate_error_2q"] is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({k: v for k, v in _record().items() if k != "edges"}), "missing field"),
        (json.dumps(_record(version=2)), "unknown field"),
        (json.dumps(_record())[:-1] + ', "backend": "emu_other"}', "duplicate key"),
        (json.dumps(_record(id="job_" + "ab" * 16)), "id of another kind"),
        (json.dumps(_record(id="cal_xyz")), "malformed id"),
        (json.dumps(_record(backend="")), "empty backend"),
        (json.dumps(_record(backend="emu/../x")), "backend with a path"),
        (json.dumps(_record(backend=7)), "numeric backend"),
        (json.dumps(_record(taken_at="2025-03-01T12:00:00")), "time without a zone"),
        (json.dumps(_record(taken_at="yesterday")), "not a timestamp"),
        (json.dumps(_record(taken_at=1740830400)), "numeric timestamp"),
        (json.dumps(_record(qubits=[])), "no qubits"),
        (json.dumps(_record(qubits={"0": _qubit()})), "qubits not a list"),
        (json.dumps(_record(qubits=[_qubit(t1_s=True)])), "boolean time"),
        (json.dumps(_record(qubits=[_qubit(t1_s="1e-4")])), "string time"),
        (json.dumps(_record(qubits=[_qubit(t1_s=0)])), "zero T1"),
        (json.dumps(_record(qubits=[_qubit(t1_s=-1e-4)])), "negative T1"),
        (json.dumps(_record(qubits=[_qubit(t1_s=10**400)])), "T1 too large for a float"),
        (json.dumps(_record(qubits=[_qubit(t2_s=2.1e-4)])), "T2 over twice T1"),
        (json.dumps(_record(qubits=[_qubit(readout_error=0.6)])), "readout error over one half"),
        (json.dumps(_record(qubits=[_qubit(gate_error=-0.01)])), "negative gate error"),
        (json.dumps(_record(qubits=[_qubit(extra=1)])), "unknown qubit field"),
        (json.dumps(_record(qubits=[_qubit()] * 1025)), "too many qubits"),
        (json.dumps(_record(edges=[_edge(control=1)])), "edge from a qubit to itself"),
        (json.dumps(_record(edges=[_edge(target=3)])), "edge to an unknown qubit"),
        (json.dumps(_record(edges=[_edge(target=-1)])), "negative qubit index"),
        (json.dumps(_record(edges=[_edge(control=0.0)])), "float qubit index"),
        (json.dumps(_record(edges=[_edge(control=False)])), "boolean qubit index"),
        (json.dumps(_record(edges=[_edge(), _edge()])), "duplicate edge"),
        (json.dumps(_record(edges=[_edge(gate_time_s=0)])), "zero gate time"),
        (json.dumps(_record(edges=[_edge(gate_error=0.51)])), "edge error over one half"),
        (json.dumps(_record(edges=[[0, 1, 0.01, 4e-7]])), "edge not an object"),
        (json.dumps(_record(single_gate_time_s=-1.0)), "negative gate time"),
        ('{"readout_time_s": NaN}', "NaN"),
        (json.dumps(_record(readout_time_s=None)), "null time"),
    ],
)
def test_malformed_calibration_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValidationFailed):
        Calibration.from_json(text)


def test_oversized_calibration_is_refused_unparsed() -> None:
    text = " " * (MAX_JSON_BYTES + 1)

    with pytest.raises(ValidationFailed, match="too large"):
        Calibration.from_json(text)


def test_refusals_never_quote_the_offending_value() -> None:
    marker = "cal_" + "cd" * 16 + "-tenant-marker"

    with pytest.raises(ValidationFailed) as caught:
        _parse(_record(id=marker))

    assert "tenant-marker" not in str(caught.value)
    assert "tenant-marker" not in repr(caught.value.extensions)


def test_records_are_checked_when_built_in_code_too() -> None:
    with pytest.raises(ValidationFailed, match="twice T1"):
        QubitCalibration(t1_s=1e-4, t2_s=3e-4, readout_error=0.01, gate_error=1e-4)
    with pytest.raises(ValidationFailed, match="time zone"):
        Calibration(
            id=ids.new_id(ids.CALIBRATION),
            backend="emu",
            taken_at=datetime(2025, 1, 1),  # naive: the point of the test
            qubits=(QubitCalibration(1e-4, 1e-4, 0.01, 1e-4),),
            edges=(),
            single_gate_time_s=1e-8,
            readout_time_s=1e-6,
        )


def test_a_fixed_offset_zone_is_accepted_and_normalised() -> None:
    calibration = Calibration(
        id=ids.new_id(ids.CALIBRATION),
        backend="emu",
        taken_at=datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
        qubits=(QubitCalibration(1e-4, 1e-4, 0.01, 1e-4),),
        edges=(),
        single_gate_time_s=1e-8,
        readout_time_s=1e-6,
    )

    assert calibration.taken_at == datetime(2025, 1, 1, tzinfo=UTC)
