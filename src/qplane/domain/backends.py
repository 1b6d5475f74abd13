"""What the control plane knows about a backend: its name, kind, region and limits.

The execution side (`qplane.backends`) implements running; this module holds
only the facts the broker needs to validate and route a job.
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
    basis_gates: frozenset[str]


@dataclass(frozen=True, slots=True)
class BackendInfo:
    name: str
    kind: BackendKind
    region: str
    description: str
    limits: BackendLimits
    #: A production device (billed, scarce); policies may keep workloads off it.
    production: bool = False
