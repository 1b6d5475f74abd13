"""Scheduling on scarce devices: exclusivity, fair share, priorities, windows, reservations,
batches, calibrations, time limits and worker regions, through the real lease API."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.broker.dispatch import DispatchService
from qplane.broker.validation import parse_circuit
from qplane.domain import ids
from qplane.domain.calendar import DeviceWindow, Reservation, WindowKind
from qplane.domain.calibration import Calibration
from qplane.domain.clock import utcnow
from qplane.domain.errors import ResidencyViolation
from qplane.domain.jobs import SourceFormat
from qplane.domain.quotas import Quota
from qplane.identity.workload import WorkerKey, sign_result
from tests.api.conftest import InProcessWorker, TenantCtx
from tests.api.test_jobs_api import submit

DEVICE = "emu_heavyhex_27"


def lease(client: TestClient, worker: InProcessWorker, **body: Any) -> dict[str, Any] | None:
    response = client.post("/internal/v1/leases", json=body, headers=worker.headers)
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.text
    granted: dict[str, Any] = response.json()
    return granted


def release(client: TestClient, worker: InProcessWorker, lease_id: str) -> None:
    response = client.post(
        f"/internal/v1/leases/{lease_id}/failure",
        json={"reason": "released by test"},
        headers=worker.headers,
    )
    assert response.status_code == 204, response.text


def on_device(client: TestClient, ctx: TenantCtx, **overrides: Any) -> str:
    response = submit(client, ctx, backend=DEVICE, shots=100, **overrides)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def served_order(
    client: TestClient, worker: InProcessWorker, owner: dict[str, str], count: int
) -> list[str]:
    served = []
    for _ in range(count):
        granted = lease(client, worker)
        if granted is None:
            break
        served.append(owner[granted["job_id"]])
        release(client, worker, granted["lease_id"])
    return served


def set_plan(platform: Platform, tenant_id: str, plan: str) -> None:
    with platform.database.unit_of_work() as uow:
        uow.tenants.update_scheduling(tenant_id, plan=plan, allowed_regions=())
        uow.commit()


def test_an_exclusive_device_runs_one_job_at_a_time(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, worker: InProcessWorker
) -> None:
    on_device(client, acme)
    on_device(client, globex)
    first = lease(client, worker)
    assert first is not None
    assert lease(client, worker) is None, "a QPU never holds two tenants' circuits at once"
    release(client, worker, first["lease_id"])
    assert lease(client, worker) is not None


def test_device_time_is_shared_in_proportion_to_plan_weights(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    set_plan(platform, acme.tenant_id, "premium")  # weight 8
    set_plan(platform, globex.tenant_id, "free")  # weight 1
    owner = {}
    for _ in range(9):
        owner[submit(client, acme).json()["id"]] = "acme"
        owner[submit(client, globex).json()["id"]] = "globex"
    served = served_order(client, worker, owner, 9)
    assert served.count("acme") == 8
    assert served.count("globex") == 1


def test_a_flooding_tenant_does_not_starve_a_late_one(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, worker: InProcessWorker
) -> None:
    owner = {submit(client, acme).json()["id"]: "acme" for _ in range(12)}
    served = served_order(client, worker, owner, 3)
    owner[submit(client, globex).json()["id"]] = "globex"
    served += served_order(client, worker, owner, 2)
    assert "globex" in served[3:5], "the newcomer is served at once, not after the flood"


def test_priorities_order_a_tenants_own_jobs_only(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, worker: InProcessWorker
) -> None:
    low = submit(client, acme, priority=1).json()["id"]
    high = submit(client, acme, priority=9).json()["id"]
    other = submit(client, globex, priority=0).json()["id"]
    order = []
    for _ in range(3):
        granted = lease(client, worker)
        assert granted is not None
        order.append(granted["job_id"])
        release(client, worker, granted["lease_id"])
    assert order.index(high) < order.index(low)
    assert order.index(other) < order.index(low), "a high priority never outranks other tenants"


def test_nothing_starts_inside_a_calibration_window_and_tenants_see_it(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = on_device(client, acme)
    now = utcnow()
    add_window(platform, now - timedelta(minutes=1), now + timedelta(hours=1))
    assert lease(client, worker) is None
    queue = client.get(f"/v1/jobs/{job_id}/queue", headers=acme.headers).json()
    assert queue["waiting_for"] == "calibration-window"
    assert queue["estimated_start"] >= (now + timedelta(hours=1)).isoformat()[:19]


def test_a_job_that_would_still_run_when_a_window_opens_waits(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    on_device(client, acme)  # about 2 s of device time: longer than the gap
    now = utcnow()
    add_window(platform, now + timedelta(seconds=1), now + timedelta(hours=1))
    assert lease(client, worker) is None


def test_a_reservation_gives_the_device_to_its_tenant_alone(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    acme_job = on_device(client, acme)
    now = utcnow()
    reserve(platform, globex.tenant_id, now - timedelta(minutes=1), now + timedelta(hours=1))
    assert lease(client, worker) is None, "another tenant's reservation holds the device"
    globex_job = on_device(client, globex)
    granted = lease(client, worker)
    assert granted is not None
    assert granted["job_id"] == globex_job
    release(client, worker, granted["lease_id"])
    assert acme_job != globex_job


def test_a_reservation_later_holds_nothing_back_now(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    globex: TenantCtx,
    worker: InProcessWorker,
) -> None:
    job_id = on_device(client, acme)
    now = utcnow()
    reserve(platform, globex.tenant_id, now + timedelta(hours=2), now + timedelta(hours=3))
    granted = lease(client, worker)
    assert granted is not None
    assert granted["job_id"] == job_id


def test_a_batch_holds_one_tenants_jobs_on_one_device(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, worker: InProcessWorker
) -> None:
    owner = {}
    for _ in range(3):
        owner[on_device(client, acme)] = acme.tenant_id
        owner[on_device(client, globex)] = globex.tenant_id
    granted = lease(client, worker, max_jobs=10)
    assert granted is not None
    batch = [granted, *granted["batch"]]
    assert len(batch) == 3
    assert {owner[item["job_id"]] for item in batch} == {owner[granted["job_id"]]}
    assert {item["backend"] for item in batch} == {DEVICE}
    assert lease(client, worker) is None, "the device is busy with that batch"


def test_a_result_names_the_calibration_it_ran_under(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = on_device(client, acme)
    granted = lease(client, worker)
    assert granted is not None
    calibration = Calibration.from_json(granted["calibration"])
    assert calibration.id == granted["calibration_id"]
    report(client, platform, worker, granted, calibration)
    job = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    assert job["state"] == "verified"
    assert job["calibration_id"] == calibration.id
    assert job["device_seconds"] > 2.0, "the device's modelled time, not the simulator's"


def test_a_result_run_under_another_calibration_fails_verification(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = on_device(client, acme)
    granted = lease(client, worker)
    assert granted is not None
    leased = Calibration.from_json(granted["calibration"])
    other = Calibration.from_json(leased.to_json().replace(leased.id, ids.new_id(ids.CALIBRATION)))
    report(client, platform, worker, granted, other)
    job = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    assert job["state"] == "failed"
    assert "another calibration" in job["reason"]


def test_a_running_job_past_its_time_limit_is_stopped_and_fails_saying_why(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme, time_limit_s=1).json()["id"]
    granted = lease(client, worker)
    assert granted is not None
    assert granted["time_limit_s"] == 1
    client.post(f"/internal/v1/leases/{granted['lease_id']}/start", headers=worker.headers)
    time.sleep(1.05)
    beat = client.post(
        f"/internal/v1/leases/{granted['lease_id']}/heartbeat", headers=worker.headers
    ).json()
    assert beat["keep_running"] is False
    job = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    assert job["state"] == "failed"
    assert "time limit of 1 s" in job["reason"]


def test_the_sweeper_fails_jobs_whose_worker_hangs_past_the_limit(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme, time_limit_s=5).json()["id"]
    granted = lease(client, worker)
    assert granted is not None
    client.post(f"/internal/v1/leases/{granted['lease_id']}/start", headers=worker.headers)
    assert platform.sweeper.enforce_time_limits(utcnow()) == 0
    assert platform.sweeper.enforce_time_limits(utcnow() + timedelta(seconds=6)) == 1
    job = client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()
    assert (job["state"], "time limit" in job["reason"]) == ("failed", True)
    assert platform.sweeper.enforce_time_limits(utcnow() + timedelta(seconds=6)) == 0


def test_a_running_quota_is_checked_again_when_scheduling(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    submit(client, acme)
    waiting = submit(client, acme).json()["id"]
    with platform.database.unit_of_work() as uow:  # lowered while the jobs waited
        uow.quotas.put(Quota(acme.tenant_id, running_jobs=1), utcnow())
        uow.commit()
    assert lease(client, worker) is not None
    assert lease(client, worker) is None
    job = client.get(f"/v1/jobs/{waiting}", headers=acme.headers).json()
    assert job["state"] == "queued", "a job over a quota waits; it is never dropped"


def test_calibration_windows_are_planned_and_end_in_a_new_calibration(
    platform: Platform,
) -> None:
    keeper = platform.calibrations
    now = utcnow()
    keeper.maintain(now)
    with platform.database.unit_of_work() as uow:
        first = uow.calibrations.latest(DEVICE)
        window = uow.calendars.last_window(DEVICE, WindowKind.CALIBRATION)
    assert first is not None
    assert window is not None
    assert window.starts_at > now, "tenants see the next window ahead of time"
    assert keeper.maintain(window.ends_at + timedelta(seconds=1)) == len(keeper.devices())
    with platform.database.unit_of_work() as uow:
        after = uow.calibrations.latest(DEVICE)
        planned = uow.calendars.last_window(DEVICE, WindowKind.CALIBRATION)
    assert after is not None
    assert after.id != first.id
    assert after.taken_at == window.ends_at
    assert planned is not None
    assert planned.starts_at > window.starts_at


def test_a_worker_serves_only_its_own_region(platform: Platform, tmp_path: Any) -> None:
    key = WorkerKey.load_or_create(tmp_path / "w.pem")
    with pytest.raises(ResidencyViolation, match="other regions"):
        platform.workers.register(
            None,
            "eu-worker",
            key.public_jwk_json(),
            ["emu_heavyhex_27", "aer_statevector"],
            "eu-west",
        )
    worker = platform.workers.register(
        None, "eu-worker", key.public_jwk_json(), ["emu_heavyhex_27", "emu_ion_20"]
    )
    assert worker.region == "eu-west"


def add_window(platform: Platform, starts: Any, ends: Any) -> None:
    with platform.database.unit_of_work() as uow:
        uow.calendars.add_window(
            DeviceWindow(ids.new_id(ids.WINDOW), DEVICE, starts, ends, WindowKind.MAINTENANCE)
        )
        uow.commit()


def reserve(platform: Platform, tenant_id: str, starts: Any, ends: Any) -> None:
    with platform.database.unit_of_work() as uow:
        uow.calendars.add_reservation(
            Reservation(
                ids.new_id(ids.RESERVATION),
                DEVICE,
                tenant_id,
                starts,
                ends,
                "test",
                ids.new_id(ids.PRINCIPAL),
                utcnow(),
            )
        )
        uow.commit()


def report(
    client: TestClient,
    platform: Platform,
    worker: InProcessWorker,
    granted: dict[str, Any],
    calibration: Calibration,
) -> None:
    assert (
        client.post(
            f"/internal/v1/leases/{granted['lease_id']}/start", headers=worker.headers
        ).status_code
        == 204
    )
    circuit = parse_circuit(granted["source"], SourceFormat(granted["format"]))
    backend = platform.catalogue.get(granted["backend"])
    result = backend.run(circuit, granted["shots"], granted["seed"], calibration=calibration)
    payload = result.to_json()
    signature = sign_result(worker.key, granted["job_id"], granted["lease_id"], payload.encode())
    response = client.post(
        f"/internal/v1/leases/{granted['lease_id']}/result",
        json={"result": payload, "signature": signature},
        headers=worker.headers,
    )
    assert response.status_code == 204, response.text


def test_each_dispatch_waits_a_random_moment_up_to_the_jitter(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    paused: list[float] = []
    dispatch = DispatchService(
        platform.database,
        platform.key_hierarchy,
        30.0,
        catalogue=platform.catalogue,
        calibrations=platform.calibrations,
        jitter_s=0.5,
        pause=paused.append,
    )
    record = platform.workers.by_name("test-worker")
    assert record is not None
    for _ in range(8):
        submit(client, acme)
        granted = dispatch.lease(record, [])
        assert granted is not None
        dispatch.fail(record, granted.lease.id, "released by test")
    assert len(paused) == 8
    assert all(0.0 <= pause <= 0.5 for pause in paused)
    assert len(set(paused)) == 8, "random, not a fixed delay"


def test_a_batch_counts_its_own_jobs_against_the_running_quota(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    for _ in range(4):
        on_device(client, acme)
    with platform.database.unit_of_work() as uow:
        uow.quotas.put(Quota(acme.tenant_id, running_jobs=2), utcnow())
        uow.commit()
    granted = lease(client, worker, max_jobs=10)
    assert granted is not None
    assert len(granted["batch"]) == 1, "two running jobs at most, batch included"


def test_a_batch_ends_before_the_next_window_opens(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    for _ in range(4):
        on_device(client, acme)  # about 2 s of device time each
    now = utcnow()
    add_window(platform, now + timedelta(seconds=5), now + timedelta(hours=1))
    granted = lease(client, worker, max_jobs=10)
    assert granted is not None
    assert len(granted["batch"]) == 1, "a third job would still run when the window opens"


def test_an_operator_cannot_register_a_worker_across_regions(
    client: TestClient, operator_headers: dict[str, str], tmp_path: Any
) -> None:
    jwk = WorkerKey.load_or_create(tmp_path / "w.pem").public_jwk_json()
    body = {"name": "eu-1", "public_jwk": jwk, "backends": ["emu_heavyhex_27", "emu_heavyhex_127"]}
    refused = client.post("/v1/workers", json=body, headers=operator_headers)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/residency-violation")
    assert problem["regions"] == ["eu-west", "us-east"]
    wrong = client.post(
        "/v1/workers",
        json={**body, "backends": ["emu_heavyhex_127"], "region": "eu-west"},
        headers=operator_headers,
    )
    assert wrong.status_code == 403
    assert "emu_heavyhex_127 (us-east)" in wrong.json()["detail"]
    placed = client.post(
        "/v1/workers", json={**body, "backends": ["emu_heavyhex_27"]}, headers=operator_headers
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["region"] == "eu-west"


def test_a_regional_worker_takes_its_own_devices_jobs_and_no_others(
    client: TestClient, platform: Platform, acme: TenantCtx, tmp_path: Any
) -> None:
    key = WorkerKey.load_or_create(tmp_path / "eu.pem")
    record = platform.workers.register(
        None, "eu-only", key.public_jwk_json(), ["emu_heavyhex_27"], "eu-west"
    )
    eu = InProcessWorker(client, record.id, key)
    eu.authenticate()
    submit(client, acme, backend="emu_heavyhex_127", shots=100)  # us-east
    assert lease(client, eu, backends=["emu_heavyhex_127"]) is None
    local = submit(client, acme, backend="emu_heavyhex_27", shots=100).json()["id"]
    granted = lease(client, eu)
    assert granted is not None
    assert granted["job_id"] == local


def test_a_worker_cannot_charge_more_device_time_than_the_job_may_run(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme, time_limit_s=60).json()["id"]
    granted = lease(client, worker)
    assert granted is not None
    client.post(f"/internal/v1/leases/{granted['lease_id']}/start", headers=worker.headers)
    circuit = parse_circuit(granted["source"], SourceFormat(granted["format"]))
    result = platform.catalogue.get("aer_statevector").run(circuit, 1000, 7)
    inflated = replace(result, metadata={**result.metadata, "device_time_s": 10.0**6})
    payload = inflated.to_json()
    signature = sign_result(worker.key, job_id, granted["lease_id"], payload.encode())
    client.post(
        f"/internal/v1/leases/{granted['lease_id']}/result",
        json={"result": payload, "signature": signature},
        headers=worker.headers,
    )
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["device_seconds"] == 60
