"""The device catalogue: the closed set of backends a job may name.

Deny by default: a name that is not in the catalogue is refused with
`ValidationFailed`, never guessed at or created on the fly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from qplane.backends.aer import AerBackend
from qplane.backends.base import Backend
from qplane.backends.devices import emulated_devices
from qplane.domain.backends import BackendInfo, BackendKind
from qplane.domain.errors import ValidationFailed

#: Qubit limits sized so that the state fits the default sandbox (4096 MB of
#: address space, of which Python, Qiskit and Aer take about 1.5 GB):
#: a 26-qubit statevector and a 13-qubit density matrix take 1 GiB each
#: (complex128). Matrix-product states grow with entanglement, not width;
#: Aer addresses at most 63 qubits.
STATEVECTOR_QUBITS: Final = 26
DENSITY_MATRIX_QUBITS: Final = 13
MPS_QUBITS: Final = 63


class BackendCatalogue:
    """A fixed, name-indexed set of backends."""

    def __init__(self, backends: Iterable[Backend]) -> None:
        self._backends: dict[str, Backend] = {}
        for backend in backends:
            name = backend.info.name
            if name in self._backends:
                raise ValueError(f"duplicate backend name {name!r}")
            self._backends[name] = backend

    def get(self, name: str) -> Backend:
        """Return the backend called *name*; raise `ValidationFailed` if there is none."""
        try:
            return self._backends[name]
        except KeyError:
            raise ValidationFailed(
                f"unknown backend {name[:100]!r}", backend=name[:100], known=self.names()
            ) from None

    def names(self) -> list[str]:
        """The backend names, sorted."""
        return sorted(self._backends)

    def names_by_kind(self) -> dict[BackendKind, list[str]]:
        """Backend names per kind (every kind present, perhaps empty): quotas count per kind."""
        kinds: dict[BackendKind, list[str]] = {kind: [] for kind in BackendKind}
        for info in self.infos():
            kinds[info.kind].append(info.name)
        return kinds

    def infos(self) -> list[BackendInfo]:
        """What the control plane needs about each backend, sorted by name."""
        return [self._backends[name].info for name in self.names()]


def default_catalogue(*, max_memory_mb: int | None = None) -> BackendCatalogue:
    """The built-in simulators, then the emulated QPUs.

    *max_memory_mb* caps each backend's state memory. Cheap to build (the
    sandboxed child builds it for every job): the emulated devices sample no
    calibration and build no noise model here.
    """
    return BackendCatalogue(
        [
            AerBackend(
                "aer_statevector",
                "statevector",
                max_qubits=STATEVECTOR_QUBITS,
                description="Ideal statevector simulator (Qiskit Aer), exact amplitudes.",
                max_memory_mb=max_memory_mb,
            ),
            AerBackend(
                "aer_density_matrix",
                "density_matrix",
                max_qubits=DENSITY_MATRIX_QUBITS,
                description="Density-matrix simulator (Qiskit Aer), mixed states.",
                max_memory_mb=max_memory_mb,
            ),
            AerBackend(
                "aer_mps",
                "matrix_product_state",
                max_qubits=MPS_QUBITS,
                description="Matrix-product-state simulator (Qiskit Aer): wide, lowly entangled.",
                max_memory_mb=max_memory_mb,
            ),
            *emulated_devices(max_memory_mb=max_memory_mb),
        ]
    )
