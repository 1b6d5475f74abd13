"""What a job and a backend say about scheduling: priority, time limit, region, device facts,
and state-change times coarsened so they cannot time other tenants' work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, TenantCtx
from tests.api.test_jobs_api import submit

GRANULARITY_S = 60.0


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API tests' platform, showing tenants times to the minute."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        tenant_time_granularity_s=GRANULARITY_S,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


def _coarse(value: str) -> bool:
    return datetime.fromisoformat(value).timestamp() % GRANULARITY_S == 0


def _times(job: dict[str, Any]) -> list[str]:
    return [job["updated_at"], *(step["at"] for step in job["history"])]


def test_state_change_times_shown_to_a_tenant_are_coarsened(
    client: TestClient, acme: TenantCtx
) -> None:
    submitted = submit(client, acme).json()
    job_id = submitted["id"]
    read = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    [listed] = client.get(f"/v1/projects/{acme.project_id}/jobs", headers=acme.headers).json()[
        "items"
    ]
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel", headers=acme.headers).json()

    for shown in (submitted, read, listed, cancelled):
        assert all(_coarse(at) for at in _times(shown)), _times(shown)
    created = datetime.fromisoformat(read["created_at"])
    first_step = datetime.fromisoformat(read["history"][0]["at"])
    assert timedelta(0) <= created - first_step < timedelta(seconds=GRANULARITY_S)
    assert [s["state"] for s in cancelled["history"]][-1] == "cancelled"


def test_a_job_carries_its_priority_time_limit_and_region(
    client: TestClient, acme: TenantCtx
) -> None:
    chosen = submit(client, acme, priority=9, time_limit_s=120).json()
    default = submit(client, acme).json()

    assert (chosen["priority"], chosen["time_limit_s"]) == (9, 120)
    assert (default["priority"], default["time_limit_s"]) == (5, 600)
    assert (chosen["region"], chosen["calibration_id"], chosen["device_seconds"]) == (
        "local",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"priority": 10}, "priority"),
        ({"priority": -1}, "priority"),
        ({"time_limit_s": 3601}, "time_limit_s"),
    ],
)
def test_a_priority_or_time_limit_out_of_bounds_is_refused(
    client: TestClient, acme: TenantCtx, overrides: dict[str, int], field: str
) -> None:
    refused = submit(client, acme, **overrides)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field


def test_backends_describe_their_devices(client: TestClient, acme: TenantCtx) -> None:
    backends = {b["name"]: b for b in client.get("/v1/backends", headers=acme.headers).json()}
    falcon = backends["emu_heavyhex_27"]
    assert (falcon["kind"], falcon["topology"], falcon["exclusive"]) == ("qpu", "heavy-hex", True)
    assert (falcon["max_circuits"], falcon["native_gates"]) == (100, ["cx", "rz", "sx", "x"])
    assert backends["aer_statevector"]["exclusive"] is False
