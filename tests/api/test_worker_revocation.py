"""Workers: each signed assertion buys one token on any server, and an operator can cut a worker
off (a compromised host) without losing the job it held."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qplane.bootstrap import Platform
from qplane.cli.main import app as cli_app
from qplane.domain.audit import PLATFORM_LOG
from qplane.domain.clock import utcnow
from qplane.domain.errors import Unauthenticated
from qplane.identity.workload import WorkerKey, make_client_assertion
from tests.api.conftest import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    InProcessWorker,
    TenantCtx,
    login,
)
from tests.api.test_jobs_api import submit
from tests.api.two_servers import another_server

TOKEN_AUDIENCE = "http://testserver/internal/v1/token"


def _exchange(client: TestClient, worker: InProcessWorker, assertion: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/internal/v1/token", json={"worker_id": worker.worker_id, "assertion": assertion}
    )
    return response


def _revoke(client: TestClient, headers: dict[str, str], worker_id: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/revocations", json={"scope": "worker", "id": worker_id}, headers=headers
    )
    return response


def _platform_events(platform: Platform) -> list[tuple[str, str, str | None]]:
    with platform.database.unit_of_work() as uow:
        return [
            (entry.action, entry.outcome.value, entry.detail)
            for entry in uow.audit.entries(PLATFORM_LOG)
        ]


def _heartbeat(client: TestClient, worker: InProcessWorker, lease_id: str) -> int:
    response = client.post(f"/internal/v1/leases/{lease_id}/heartbeat", headers=worker.headers)
    return int(response.status_code)


def test_an_assertion_accepted_by_one_server_is_refused_by_another(
    client: TestClient, platform: Platform, worker: InProcessWorker
) -> None:
    assertion = make_client_assertion(worker.key, worker.worker_id, TOKEN_AUDIENCE)
    assert _exchange(client, worker, assertion).status_code == 200
    with another_server(platform) as second:
        replayed = _exchange(second, worker, assertion)
        assert replayed.status_code == 401
        fresh = make_client_assertion(worker.key, worker.worker_id, TOKEN_AUDIENCE)
        assert _exchange(second, worker, fresh).status_code == 200
    assert ("worker.authenticate", "denied", "assertion already used") in _platform_events(platform)


def test_a_revoked_worker_is_cut_off_at_once_and_its_job_is_requeued_at_lease_expiry(
    client: TestClient,
    platform: Platform,
    worker: InProcessWorker,
    acme: TenantCtx,
    operator_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    job_id = submit(client, acme).json()["id"]
    lease = client.post("/internal/v1/leases", json={}, headers=worker.headers).json()
    assert lease["job_id"] == job_id
    assert _heartbeat(client, worker, lease["lease_id"]) == 200

    revoked = _revoke(client, operator_headers, worker.worker_id)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["scope"] == "worker"

    # The token it holds fails on the next request, on every server; its key buys no new one.
    assert _heartbeat(client, worker, lease["lease_id"]) == 401
    with another_server(platform) as second:
        assert (
            second.post("/internal/v1/leases", json={}, headers=worker.headers).status_code == 401
        )
        fresh = make_client_assertion(worker.key, worker.worker_id, TOKEN_AUDIENCE)
        assert _exchange(second, worker, fresh).status_code == 401
    assert any(action == "revocation.worker" for action, _, _ in _platform_events(platform))

    # Nobody renews the lease any more: once it runs out, the sweeper puts the job back.
    with platform.database.unit_of_work() as uow:
        uow.leases.renew(lease["lease_id"], utcnow() - timedelta(seconds=1))
        uow.commit()
    assert platform.sweeper.expire_leases() == (1, 0)
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "queued"
    key = WorkerKey.load_or_create(tmp_path / "healthy.pem")
    record = platform.workers.register(
        None, "healthy-worker", key.public_jwk_json(), platform.catalogue.names()
    )
    healthy = InProcessWorker(client, record.id, key)
    healthy.authenticate()
    again = client.post("/internal/v1/leases", json={}, headers=healthy.headers).json()
    assert again["job_id"] == job_id


def test_a_worker_revoked_while_it_waits_for_work_gets_no_lease(
    client: TestClient, platform: Platform, worker: InProcessWorker, acme: TenantCtx
) -> None:
    record = platform.workers.by_name("test-worker")
    assert record is not None
    platform.revocations.revoke_worker(None, worker.worker_id)
    submit(client, acme)
    with pytest.raises(Unauthenticated):
        platform.dispatch.lease(record, [])  # the long poll resolved the worker before


def test_revoking_a_worker_needs_a_recent_mfa(client: TestClient, worker: InProcessWorker) -> None:
    password_only = {"Authorization": f"Bearer {login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD)}"}
    stale = _revoke(client, password_only, worker.worker_id)
    assert stale.status_code == 401
    assert "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
    assert client.post("/internal/v1/leases", json={}, headers=worker.headers).status_code == 204


def test_a_tenant_admin_cannot_revoke_a_worker(
    client: TestClient, worker: InProcessWorker, acme: TenantCtx
) -> None:
    assert _revoke(client, acme.headers, worker.worker_id).status_code == 403
    assert client.post("/internal/v1/leases", json={}, headers=worker.headers).status_code == 204


def test_revoking_an_unknown_worker_is_404(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    assert (
        _revoke(client, operator_headers, "wrk_00000000000000000000000000000000").status_code == 404
    )


def test_cli_revokes_a_worker_on_the_server(
    client: TestClient,
    platform: Platform,
    worker: InProcessWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "QPLANE_DATA_DIR": str(Path(platform.settings.data_dir)),
        "QPLANE_DATABASE_URL": platform.settings.effective_database_url,
    }
    for name in [n for n in os.environ if n.startswith("QPLANE_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(cli_app, ["revoke", "--worker", worker.worker_id], env=env)
    assert result.exit_code == 0, result.output
    assert f"revoked worker {worker.worker_id}" in result.output
    assert client.post("/internal/v1/leases", json={}, headers=worker.headers).status_code == 401
