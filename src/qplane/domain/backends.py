"""What the control plane knows about a backend: its name, kind, region, limits and timing.

The execution side (`qplane.backends`) implements running; this module holds
only the facts the broker needs to validate, route and schedule a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BackendKind(StrEnum):
    SIMULATOR = "simulator"
    QPU = "qpu"


@dataclass(frozen=True, slots=True)
class BackendLimits:
    max_qubits: int
    max_depth: int
    min_shots: int
    max_shots: int
    #: The gates a tenant may write (transpiled to the device's natives before running).
    basis_gates: frozenset[str]


@dataclass(frozen=True, slots=True)
class DeviceTiming:
    """How long a device is busy with a job, as a model the scheduler can plan with.

    A job costs a fixed overhead (loading, compiling, calibrating readout),
    then per shot a repetition time plus one gate-layer time per layer of
    the transpiled circuit.
    """

    job_overhead_s: float
    shot_s: float
    layer_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BackendInfo:
    name: str
    kind: BackendKind
    region: str
    description: str
    limits: BackendLimits
    #: A production device (billed, scarce); policies may keep workloads off it.
    production: bool = False
    #: Circuits one job may carry.
    max_circuits: int = 1
    #: The connectivity's family: ``all-to-all``, ``heavy-hex``, ``linear``.
    topology: str = "all-to-all"
    #: The gates the device executes; what tenants write is transpiled to these.
    native_gates: frozenset[str] = frozenset()
    #: Directed qubit pairs a two-qubit native gate acts on; empty means all pairs.
    coupling_map: tuple[tuple[int, int], ...] = ()
    #: The device runs one job at a time, so circuits of different tenants never
    #: share the chip (no crosstalk between co-located circuits).
    exclusive: bool = False
    timing: DeviceTiming = DeviceTiming(0.05, 1e-5)

    @property
    def calibrated(self) -> bool:
        """True when a run needs a calibration record (QPUs: their noise comes from it)."""
        return self.kind is BackendKind.QPU

    def estimate_seconds(self, shots: int, depth: int | None) -> float:
        """Modelled device time of one job: overhead plus shots x (repetition + depth x layer).

        An unknown *depth* counts as one layer, so an estimate made before
        transpiling is a lower bound of the same shape.
        """
        timing = self.timing
        return timing.job_overhead_s + shots * (timing.shot_s + (depth or 1) * timing.layer_s)
