"""RunResult crosses trust boundaries as JSON, so its decoder is strict."""

from __future__ import annotations

import json

import pytest

from qplane.backends.base import RunResult
from qplane.domain.errors import ValidationFailed


def _result(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "counts": {"00": 510, "11": 490},
        "shots": 1000,
        "backend": "aer_statevector",
        "seed": 42,
        "execution_time_s": 0.0123,
        "metadata": {"method": "statevector", "max_parallel_threads": 1},
    }
    raw.update(changes)
    return raw


def test_result_survives_a_json_round_trip() -> None:
    result = RunResult.from_json(json.dumps(_result()))

    assert RunResult.from_json(result.to_json()) == result
    assert result.counts == {"00": 510, "11": 490}


def test_equal_results_serialise_to_identical_text() -> None:
    a = RunResult.from_json(json.dumps(_result()))
    b = RunResult.from_json(json.dumps(_result(counts={"11": 490, "00": 510})))

    assert a.to_json() == b.to_json()


def test_counts_of_several_registers_use_qiskits_space_separated_bitstrings() -> None:
    result = RunResult.from_json(json.dumps(_result(counts={"1 01": 600, "0 00": 400})))

    assert result.counts["1 01"] == 600


def test_integer_execution_time_is_read_as_a_float() -> None:
    result = RunResult.from_json(json.dumps(_result(execution_time_s=2)))

    assert result.execution_time_s == 2.0
    assert isinstance(result.execution_time_s, float)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({k: v for k, v in _result().items() if k != "seed"}), "missing field"),
        (json.dumps(_result(extra="x")), "unknown field"),
        (json.dumps(_result(counts={"00": 500, "11": 499})), "counts do not add up"),
        (json.dumps(_result(counts={})), "no counts"),
        (json.dumps(_result(counts={"02": 1000})), "not a bitstring"),
        (json.dumps(_result(counts={" 00": 1000})), "leading space"),
        (json.dumps(_result(counts={"00": 1001, "11": -1})), "negative count"),
        (json.dumps(_result(counts={"00": 1000.0})), "float count"),
        (json.dumps(_result(shots=True, counts={"0": 1})), "boolean shots"),
        (json.dumps(_result(seed="42")), "string seed"),
        (json.dumps(_result(seed=-1)), "negative seed"),
        (json.dumps(_result(backend="")), "empty backend"),
        (json.dumps(_result(execution_time_s=-1.0)), "negative time"),
        (json.dumps(_result(execution_time_s="1")), "string time"),
        ('{"execution_time_s": NaN}', "NaN"),
        (json.dumps(_result(execution_time_s=10**400)), "time too large for a float"),
        (json.dumps(_result(metadata={"nested": {"a": 1}})), "nested metadata"),
        (json.dumps(_result(metadata=[])), "metadata not an object"),
    ],
)
def test_malformed_result_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValidationFailed):
        RunResult.from_json(text)


def test_non_finite_numbers_are_never_serialised() -> None:
    result = RunResult(
        counts={"0": 1},
        shots=1,
        backend="b",
        seed=0,
        execution_time_s=float("nan"),
    )

    with pytest.raises(ValueError, match="JSON"):
        result.to_json()
