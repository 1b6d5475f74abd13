"""The catalogue is a closed set: unknown names are refused, never guessed."""

from __future__ import annotations

import pytest

from qplane.backends.aer import AerBackend
from qplane.backends.catalogue import BackendCatalogue, default_catalogue
from qplane.domain.backends import BackendKind
from qplane.domain.errors import ValidationFailed

SIMULATORS = ["aer_density_matrix", "aer_mps", "aer_statevector"]
EMULATED_QPUS = ["emu_heavyhex_127", "emu_heavyhex_27", "emu_ion_20"]
BUILT_IN = SIMULATORS + EMULATED_QPUS


@pytest.fixture(scope="module")
def catalogue() -> BackendCatalogue:
    return default_catalogue()


def test_default_catalogue_offers_three_aer_simulators_and_three_emulated_qpus(
    catalogue: BackendCatalogue,
) -> None:
    assert catalogue.names() == BUILT_IN
    assert [info.name for info in catalogue.infos()] == BUILT_IN
    kinds = {info.name: info.kind for info in catalogue.infos()}
    assert [name for name in BUILT_IN if kinds[name] is BackendKind.SIMULATOR] == SIMULATORS


def test_every_built_in_simulator_is_local_with_sane_limits(
    catalogue: BackendCatalogue,
) -> None:
    for info in (catalogue.get(name).info for name in SIMULATORS):
        assert info.kind is BackendKind.SIMULATOR
        assert not info.exclusive
        assert info.region == "local"
        assert info.limits.min_shots == 1
        assert info.limits.max_shots == 100_000
        assert info.limits.max_depth == 10_000
        assert {"measure", "barrier", "reset", "h", "cx"} <= info.limits.basis_gates


def test_qubit_limits_fit_the_default_sandbox_memory(catalogue: BackendCatalogue) -> None:
    limits = {name: catalogue.get(name).info.limits.max_qubits for name in SIMULATORS}

    assert limits == {"aer_statevector": 26, "aer_density_matrix": 13, "aer_mps": 63}


def test_unknown_backend_is_refused_with_the_known_names(catalogue: BackendCatalogue) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalogue.get("ibm_brisbane")

    assert str(caught.value) == "unknown backend 'ibm_brisbane'"
    assert caught.value.extensions["backend"] == "ibm_brisbane"
    assert caught.value.extensions["known"] == BUILT_IN


def test_unknown_backend_error_does_not_echo_a_huge_name(catalogue: BackendCatalogue) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalogue.get("x" * 10_000)

    assert len(str(caught.value)) < 150


def test_get_returns_the_backend_of_that_name(catalogue: BackendCatalogue) -> None:
    assert catalogue.get("aer_mps").info.name == "aer_mps"


def test_two_backends_cannot_share_a_name() -> None:
    backend = AerBackend("dup", "statevector", max_qubits=2, description="d")

    with pytest.raises(ValueError, match="duplicate"):
        BackendCatalogue([backend, backend])
