"""The emulated QPUs of the default catalogue, and the coupling maps they are wired with.

Three hardware-like devices of different sizes and topologies: IBM
Falcon-like and Eagle-like heavy-hex chips (27 and 127 qubits; every qubit
has at most three neighbours) and a 20-ion linear chain. Their timing is a
model of real devices of the kind (job overhead, repetition time per shot,
gate-layer time), which the scheduler plans device time with.

Couplers are listed in both directions: the transpiler then never has to
turn a two-qubit gate around, and each direction has its own calibration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from qplane.backends.emulated import EmulatedQpu
from qplane.domain.backends import DeviceTiming

Edges = tuple[tuple[int, int], ...]

#: IBM Falcon r4 (27 qubits, 28 couplers), as published for its devices.
_FALCON_27: Final = (
    (0, 1), (1, 2), (1, 4), (2, 3), (3, 5), (4, 7), (5, 8), (6, 7), (7, 10), (8, 9),
    (8, 11), (10, 12), (11, 14), (12, 13), (12, 15), (13, 14), (14, 16), (15, 18),
    (16, 19), (17, 18), (18, 21), (19, 20), (19, 22), (21, 23), (22, 25), (23, 24),
    (24, 25), (25, 26),
)  # fmt: skip
#: IBM Eagle rows of qubits, as (first, last) columns of a 15-column lattice;
#: between consecutive rows, bridge qubits join columns 0, 4, 8, 12 (below an
#: even row) or 2, 6, 10, 14 (below an odd row).
_EAGLE_ROWS: Final = ((0, 13), (0, 14), (0, 14), (0, 14), (0, 14), (0, 14), (1, 14))
_EAGLE_BRIDGES: Final = ((0, 4, 8, 12), (2, 6, 10, 14))


def falcon_27() -> Edges:
    """The 27-qubit heavy-hex coupling map, both directions."""
    return _both_directions(_FALCON_27)


def eagle_127() -> Edges:
    """The 127-qubit heavy-hex coupling map, both directions.

    Numbered as on IBM's Eagle devices: a row left to right, then the bridge
    qubits below it, then the next row.
    """
    edges: list[tuple[int, int]] = []
    next_qubit = 0
    previous: dict[int, int] = {}  # column -> qubit of the row above
    for index, (first, last) in enumerate(_EAGLE_ROWS):
        if previous:
            bridges = [c for c in _EAGLE_BRIDGES[(index - 1) % 2] if c in previous]
            row_start = next_qubit + len(bridges)
            for offset, column in enumerate(bridges):
                bridge = next_qubit + offset
                edges += [(previous[column], bridge), (bridge, row_start + column - first)]
            next_qubit = row_start
        row = {column: next_qubit + column - first for column in range(first, last + 1)}
        edges += [(row[c], row[c + 1]) for c in range(first, last)]
        next_qubit += len(row)
        previous = row
    return _both_directions(edges)


def linear_chain(qubits: int) -> Edges:
    """Neighbours along a chain, both directions."""
    return _both_directions((i, i + 1) for i in range(qubits - 1))


def emulated_devices(*, max_memory_mb: int | None = None) -> list[EmulatedQpu]:
    """The catalogue's emulated QPUs. Cheap: nothing is simulated or sampled here."""
    return [
        EmulatedQpu(
            "emu_heavyhex_27",
            description="Emulated 27-qubit heavy-hex QPU (IBM Falcon-like), "
            "noise from its calibration.",
            region="eu-west",
            num_qubits=27,
            coupling_map=falcon_27(),
            native_gates=frozenset({"cx", "rz", "sx", "x"}),
            timing=DeviceTiming(job_overhead_s=2.0, shot_s=250e-6, layer_s=400e-9),
            max_shots=100_000,
            max_circuits=100,
            max_depth=10_000,
            topology="heavy-hex",
            max_memory_mb=max_memory_mb,
        ),
        EmulatedQpu(
            "emu_heavyhex_127",
            description="Emulated 127-qubit heavy-hex QPU (IBM Eagle-like), "
            "noise from its calibration.",
            region="us-east",
            num_qubits=127,
            coupling_map=eagle_127(),
            native_gates=frozenset({"ecr", "rz", "sx", "x"}),
            timing=DeviceTiming(job_overhead_s=3.0, shot_s=250e-6, layer_s=600e-9),
            max_shots=100_000,
            max_circuits=300,
            max_depth=10_000,
            topology="heavy-hex",
            max_memory_mb=max_memory_mb,
        ),
        EmulatedQpu(
            "emu_ion_20",
            description="Emulated 20-ion linear-chain QPU (trapped-ion-like, slow shots), "
            "noise from its calibration.",
            region="eu-west",
            num_qubits=20,
            coupling_map=linear_chain(20),
            native_gates=frozenset({"rxx", "rz", "rx", "ry"}),
            timing=DeviceTiming(job_overhead_s=10.0, shot_s=5e-3, layer_s=250e-6),
            max_shots=10_000,
            max_circuits=50,
            max_depth=1_000,
            topology="linear",
            max_memory_mb=max_memory_mb,
        ),
    ]


def _both_directions(edges: Iterable[tuple[int, int]]) -> Edges:
    pairs = {pair for a, b in edges for pair in ((a, b), (b, a))}
    return tuple(sorted(pairs))
