"""A device's calibration record: coherence times and error rates per qubit and per coupler.

An emulated QPU builds its noise model from the record it runs under, and its
results name that record's id, so a tenant can tell which calibration shaped
their counts. The record travels from the control plane to the sandboxed
child with the job, across the worker trust boundary, so it is checked on
construction (every value finite and in range, T2 <= 2 x T1, couplers between
distinct known qubits) and `Calibration.from_json` is strict: exactly the
documented fields, with exactly the documented types, no duplicate keys, or
`ValidationFailed`. It never returns a half-checked record.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar

from qplane.domain import ids
from qplane.domain.errors import ValidationFailed

#: Largest record accepted as JSON (the 127-qubit device's is about 60 KB).
MAX_JSON_BYTES: Final = 1024 * 1024
MAX_QUBITS: Final = 1024
MAX_EDGES: Final = 8192
#: Error rates are probabilities of an error per operation; above one half
#: the device is no better than chance and nobody would schedule on it.
MAX_ERROR: Final = 0.5

_T = TypeVar("_T")
_BACKEND_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_QUBIT_FIELDS: Final = frozenset({"t1_s", "t2_s", "readout_error", "gate_error"})
_EDGE_FIELDS: Final = frozenset({"control", "target", "gate_error", "gate_time_s"})
_FIELDS: Final = frozenset(
    {"id", "backend", "taken_at", "qubits", "edges", "single_gate_time_s", "readout_time_s"}
)


@dataclass(frozen=True, slots=True)
class QubitCalibration:
    """One qubit: relaxation (T1) and dephasing (T2) times, readout and single-qubit gate error."""

    t1_s: float
    t2_s: float
    readout_error: float
    gate_error: float

    def __post_init__(self) -> None:
        _set(self, "t1_s", _duration(self.t1_s, "t1_s"))
        _set(self, "t2_s", _duration(self.t2_s, "t2_s"))
        _set(self, "readout_error", _error(self.readout_error, "readout_error"))
        _set(self, "gate_error", _error(self.gate_error, "gate_error"))
        if self.t2_s > 2 * self.t1_s:
            raise ValidationFailed("calibration T2 cannot exceed twice T1", field="t2_s")


@dataclass(frozen=True, slots=True)
class EdgeCalibration:
    """One directed coupler: the two-qubit gate's error and duration from *control* to *target*."""

    control: int
    target: int
    gate_error: float
    gate_time_s: float

    def __post_init__(self) -> None:
        _index(self.control, "control")
        _index(self.target, "target")
        if self.control == self.target:
            raise ValidationFailed("calibration edge joins a qubit to itself", field="edges")
        _set(self, "gate_error", _error(self.gate_error, "gate_error"))
        _set(self, "gate_time_s", _duration(self.gate_time_s, "gate_time_s"))


@dataclass(frozen=True, slots=True)
class Calibration:
    """A device's calibration at one moment, as the control plane leases it with a job."""

    id: str
    backend: str
    taken_at: datetime
    qubits: tuple[QubitCalibration, ...]
    edges: tuple[EdgeCalibration, ...]
    single_gate_time_s: float
    readout_time_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not ids.is_well_formed(self.id, ids.CALIBRATION):
            raise ValidationFailed("calibration id is malformed", field="id")
        if not isinstance(self.backend, str) or not _BACKEND_NAME.fullmatch(self.backend):
            raise ValidationFailed("calibration backend name is malformed", field="backend")
        _set(self, "taken_at", _instant(self.taken_at))
        _set(self, "qubits", _items(self.qubits, QubitCalibration, "qubits", MAX_QUBITS))
        _set(self, "edges", _items(self.edges, EdgeCalibration, "edges", MAX_EDGES))
        if not self.qubits:
            raise ValidationFailed("calibration has no qubits", field="qubits")
        _check_edges(self.edges, len(self.qubits))
        _set(self, "single_gate_time_s", _duration(self.single_gate_time_s, "single_gate_time_s"))
        _set(self, "readout_time_s", _duration(self.readout_time_s, "readout_time_s"))

    def medians(self) -> dict[str, float | None]:
        """The device-wide summary a tenant may see: medians, never per-qubit detail.

        ``gate_error_2q`` is None for a device without couplers.
        """
        return {
            "t1_s": statistics.median(q.t1_s for q in self.qubits),
            "t2_s": statistics.median(q.t2_s for q in self.qubits),
            "readout_error": statistics.median(q.readout_error for q in self.qubits),
            "gate_error_1q": statistics.median(q.gate_error for q in self.qubits),
            "gate_error_2q": (
                statistics.median(e.gate_error for e in self.edges) if self.edges else None
            ),
        }

    def to_json(self) -> str:
        """Canonical compact JSON (sorted keys): equal records give equal text."""
        return json.dumps(
            {
                "id": self.id,
                "backend": self.backend,
                "taken_at": self.taken_at.isoformat(),
                "qubits": [
                    {
                        "t1_s": q.t1_s,
                        "t2_s": q.t2_s,
                        "readout_error": q.readout_error,
                        "gate_error": q.gate_error,
                    }
                    for q in self.qubits
                ],
                "edges": [
                    {
                        "control": e.control,
                        "target": e.target,
                        "gate_error": e.gate_error,
                        "gate_time_s": e.gate_time_s,
                    }
                    for e in self.edges
                ],
                "single_gate_time_s": self.single_gate_time_s,
                "readout_time_s": self.readout_time_s,
            },
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Calibration:
        """Parse and check *text*; raise `ValidationFailed` unless it is exactly a calibration."""
        if len(text) > MAX_JSON_BYTES:
            raise ValidationFailed("calibration is too large", field="calibration")
        try:
            raw = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValidationFailed("calibration is not valid JSON", field="calibration") from exc
        fields = _object(raw, _FIELDS, "calibration")
        return cls(
            id=_string(fields["id"], "id"),
            backend=_string(fields["backend"], "backend"),
            taken_at=_timestamp(fields["taken_at"]),
            qubits=tuple(_qubit(item) for item in _array(fields["qubits"], "qubits", MAX_QUBITS)),
            edges=tuple(_edge(item) for item in _array(fields["edges"], "edges", MAX_EDGES)),
            single_gate_time_s=_number(fields["single_gate_time_s"], "single_gate_time_s"),
            readout_time_s=_number(fields["readout_time_s"], "readout_time_s"),
        )


def _set(record: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields (ints to floats, lists to tuples).
    object.__setattr__(record, name, value)


def _number(value: object, name: str) -> float:
    # bool is an int subclass; True must not pass as a time of 1 s.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise ValidationFailed(f"calibration field '{name}' must be a finite number", field=name)


def _duration(value: object, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise ValidationFailed(f"calibration field '{name}' must be positive", field=name)
    return number


def _error(value: object, name: str) -> float:
    number = _number(value, name)
    if not 0 <= number <= MAX_ERROR:
        raise ValidationFailed(
            f"calibration field '{name}' must be between 0 and {MAX_ERROR}", field=name
        )
    return number


def _index(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_QUBITS:
        raise ValidationFailed(f"calibration field '{name}' must be a qubit index", field=name)
    return value


def _instant(value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationFailed("calibration time must carry a time zone", field="taken_at")
    return value.astimezone(UTC)


def _items(value: object, kind: type[_T], name: str, limit: int) -> tuple[_T, ...]:
    items = tuple(value) if isinstance(value, tuple | list) else None
    if items is None or len(items) > limit or not all(isinstance(i, kind) for i in items):
        raise ValidationFailed(f"calibration field '{name}' is malformed", field=name)
    return items


def _check_edges(edges: tuple[EdgeCalibration, ...], qubits: int) -> None:
    pairs = {(e.control, e.target) for e in edges}
    if len(pairs) != len(edges):
        raise ValidationFailed("calibration lists an edge twice", field="edges")
    if any(max(pair) >= qubits for pair in pairs):
        raise ValidationFailed("calibration edge names an unknown qubit", field="edges")


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-finite number {name}")


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")
    return found


def _object(value: object, fields: frozenset[str], name: str) -> dict[str, object]:
    if not isinstance(value, dict) or set(value) != fields:
        raise ValidationFailed(
            f"calibration '{name}' must be an object with exactly its documented fields",
            field=name,
        )
    return value


def _qubit(value: object) -> QubitCalibration:
    fields = _object(value, _QUBIT_FIELDS, "qubits")
    return QubitCalibration(
        t1_s=_number(fields["t1_s"], "t1_s"),
        t2_s=_number(fields["t2_s"], "t2_s"),
        readout_error=_number(fields["readout_error"], "readout_error"),
        gate_error=_number(fields["gate_error"], "gate_error"),
    )


def _edge(value: object) -> EdgeCalibration:
    fields = _object(value, _EDGE_FIELDS, "edges")
    return EdgeCalibration(
        control=_index(fields["control"], "control"),
        target=_index(fields["target"], "target"),
        gate_error=_number(fields["gate_error"], "gate_error"),
        gate_time_s=_number(fields["gate_time_s"], "gate_time_s"),
    )


def _array(value: object, name: str, limit: int) -> list[object]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValidationFailed(f"calibration field '{name}' must be a list", field=name)
    return value


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"calibration field '{name}' must be a string", field=name)
    return value


def _timestamp(value: object) -> datetime:
    try:
        return datetime.fromisoformat(_string(value, "taken_at"))
    except ValueError:
        raise ValidationFailed(
            "calibration time must be an ISO 8601 timestamp", field="taken_at"
        ) from None
