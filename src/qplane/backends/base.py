"""The execution contract: what a backend is, and what a run gives back.

A `RunResult` crosses a trust boundary twice — from the sandboxed child to the
worker, and from the worker to the control plane — so `RunResult.from_json`
is strict: it accepts exactly the documented fields with exactly the
documented types (and counts that add up to the shots), and raises
`ValidationFailed` on anything else. It never returns a half-checked result.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from qplane.domain.errors import QplaneError, ValidationFailed

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qplane.domain.backends import BackendInfo, BackendLimits
    from qplane.domain.calibration import Calibration

#: A metadata value: JSON scalars only, so metadata cannot smuggle structure.
MetadataValue = str | int | float | bool | None

#: Bitstrings as Qiskit prints counts: one group of 0/1 per classical register,
#: groups separated by single spaces.
_BITSTRING: Final = re.compile(r"[01]+(?: [01]+)*")
#: Aer takes an unsigned 64-bit seed; keep to the range every language agrees on.
MAX_SEED: Final = 2**63 - 1
_FIELDS: Final = frozenset({"counts", "shots", "backend", "seed", "execution_time_s", "metadata"})


class BackendError(QplaneError):
    """A backend accepted a circuit but could not run it.

    ``reason`` (also in the extensions) is a short stable slug such as
    ``memory-limit`` or ``backend-error``; the message never contains the
    circuit source.
    """

    slug = "execution-failed"
    title = "Execution failed"
    status = 500

    def __init__(self, detail: str, *, reason: str, **extensions: object) -> None:
        super().__init__(detail, reason=reason, **extensions)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run: measurement counts and how they were obtained."""

    counts: dict[str, int]
    shots: int
    backend: str
    seed: int
    execution_time_s: float
    metadata: dict[str, MetadataValue] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise to compact JSON text (keys sorted, so equal results give equal text)."""
        return json.dumps(
            {
                "counts": self.counts,
                "shots": self.shots,
                "backend": self.backend,
                "seed": self.seed,
                "execution_time_s": self.execution_time_s,
                "metadata": self.metadata,
            },
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RunResult:
        """Parse and check *text*; raise `ValidationFailed` unless it is exactly a result."""
        try:
            raw = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValidationFailed("run result is not valid JSON", field="result") from exc
        if not isinstance(raw, dict):
            raise ValidationFailed("run result must be a JSON object", field="result")
        if set(raw) != _FIELDS:
            raise ValidationFailed(
                "run result has missing or unknown fields",
                field="result",
                missing=sorted(_FIELDS - set(raw)),
                unknown=sorted(str(k) for k in set(raw) - _FIELDS),
            )
        shots = _int(raw["shots"], "shots", minimum=1)
        return cls(
            counts=_counts(raw["counts"], shots),
            shots=shots,
            backend=_name(raw["backend"]),
            seed=_int(raw["seed"], "seed", minimum=0),
            execution_time_s=_duration(raw["execution_time_s"]),
            metadata=_metadata(raw["metadata"]),
        )


class Backend(Protocol):
    """Something that runs a circuit. Implementations must be deterministic per seed."""

    @property
    def info(self) -> BackendInfo:
        """The facts the control plane validates and routes against."""
        ...

    def run(
        self,
        circuit: QuantumCircuit,
        shots: int,
        seed: int,
        *,
        calibration: Calibration | None = None,
    ) -> RunResult:
        """Run *circuit* for *shots* shots; raise `BackendError` if it cannot.

        A backend whose ``info.calibrated`` is true runs only under a
        *calibration* (its noise comes from it) and refuses, with reason
        ``uncalibrated``, to run without one; others ignore it.
        """
        ...


def check_run_arguments(
    limits: BackendLimits, circuit: QuantumCircuit, shots: int, seed: int
) -> None:
    """Raise `ValidationFailed` unless shots, seed and width are within *limits*.

    The broker and the sandbox have checked them already; this is every
    backend's last line.
    """
    if not limits.min_shots <= shots <= limits.max_shots:
        raise ValidationFailed(
            "shots outside the backend's range",
            limit="shots",
            allowed=[limits.min_shots, limits.max_shots],
            actual=shots,
        )
    if not 0 <= seed <= MAX_SEED:
        raise ValidationFailed("seed must be between 0 and 2**63 - 1", limit="seed", actual=seed)
    if circuit.num_qubits > limits.max_qubits:
        raise ValidationFailed(
            "circuit has more qubits than the backend allows",
            limit="max_qubits",
            allowed=limits.max_qubits,
            actual=circuit.num_qubits,
        )


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-finite number {name}")


def _int(value: object, name: str, *, minimum: int) -> int:
    # bool is an int subclass; True must not pass as 1 shot.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationFailed(
            f"run result field '{name}' must be an integer >= {minimum}", field=name
        )
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationFailed("run result field 'backend' must be a short string", field="backend")
    return value


def _duration(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number) and number >= 0:
            return number
    raise ValidationFailed(
        "run result field 'execution_time_s' must be a non-negative number",
        field="execution_time_s",
    )


def _counts(value: object, shots: int) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise ValidationFailed(
            "run result field 'counts' must be a non-empty object", field="counts"
        )
    counts: dict[str, int] = {}
    for key, count in value.items():
        if not isinstance(key, str) or _BITSTRING.fullmatch(key) is None:
            raise ValidationFailed("run result counts have a malformed bitstring", field="counts")
        counts[key] = _int(count, "counts", minimum=1)
    if sum(counts.values()) != shots:
        raise ValidationFailed(
            "run result counts do not add up to the shots", field="counts", shots=shots
        )
    return counts


def _metadata(value: object) -> dict[str, MetadataValue]:
    if not isinstance(value, dict):
        raise ValidationFailed("run result field 'metadata' must be an object", field="metadata")
    metadata: dict[str, MetadataValue] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise ValidationFailed(
                "run result metadata values must be JSON scalars", field="metadata", key=str(key)
            )
        metadata[str(key)] = item
    return metadata
