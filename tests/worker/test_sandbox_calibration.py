"""A device job carries its calibration into the sandbox, which checks it and runs under it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from qplane.backends.calibration import initial_calibration
from qplane.backends.catalogue import default_catalogue
from qplane.domain.calibration import Calibration
from qplane.domain.jobs import SourceFormat
from qplane.worker.sandbox import SandboxError, SandboxFailure, SandboxRequest, run_in_sandbox

BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""
DEVICE = "emu_heavyhex_27"


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    info = default_catalogue().get(DEVICE).info
    return initial_calibration(info, datetime(2025, 3, 1, tzinfo=UTC))


def _request(calibration: str | None, backend: str = DEVICE) -> SandboxRequest:
    return SandboxRequest(BELL, SourceFormat.QASM2, backend, 500, seed=3, calibration=calibration)


def test_a_sandboxed_device_run_reports_the_calibration_it_ran_under(
    calibration: Calibration,
) -> None:
    result = run_in_sandbox(_request(calibration.to_json()))

    assert result.backend == DEVICE
    assert result.metadata["calibration_id"] == calibration.id
    assert sum(result.counts.values()) == 500


def test_a_device_job_without_a_calibration_is_an_invalid_job() -> None:
    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(None))

    assert caught.value.failure is SandboxFailure.INVALID_JOB
    assert caught.value.extensions["limit"] == "calibration"


@pytest.mark.parametrize("why", ["malformed", "of another device", "missing a coupler"])
def test_a_calibration_the_device_cannot_trust_is_an_invalid_job(
    calibration: Calibration, why: str
) -> None:
    raw = json.loads(calibration.to_json())
    if why == "malformed":
        raw["qubits"][0]["t2_s"] = 3 * raw["qubits"][0]["t1_s"]
    elif why == "of another device":
        raw["backend"] = "emu_ion_20"
    else:
        raw["edges"] = raw["edges"][1:]

    with pytest.raises(SandboxError) as caught:
        run_in_sandbox(_request(json.dumps(raw)))

    assert caught.value.failure is SandboxFailure.INVALID_JOB
    assert caught.value.extensions["limit"] == "calibration"


def test_simulator_jobs_need_no_calibration() -> None:
    result = run_in_sandbox(_request(None, backend="aer_statevector"))

    assert set(result.counts) == {"00", "11"}
