"""Correlation digests: equal sensitive values match within a tenant, and only there.

Each tenant's audit key is random, created on first use and stored only
sealed under the tenant's key ring; rotation keeps digests stable, a
crypto-shred makes them impossible without breaking the job path, and a
retired job's entry keeps the fact and the digests after its artifacts are
gone.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.api import conftest as api_fixtures
from tests.api.conftest import BELL, InProcessWorker, TenantCtx, with_mfa
from tests.api.test_jobs_api import run_leased_job, submit

from qplane.audit.correlation import UNAVAILABLE, Correlator
from qplane.bootstrap import Platform
from qplane.broker.sweeper import Sweeper
from qplane.crypto.envelope import ArtifactBinding
from qplane.domain.audit import AuditEntry
from qplane.store.models import ArtifactRow, Base
from qplane.store.models_audit import AuditKeyRow

GHZ = BELL.replace("creg c[2];", "creg c[2];\nx q[1];")

# The API tests' real platform and tenants (pytest finds fixtures by module name).
platform = api_fixtures.platform
client = api_fixtures.client
operator_mfa = api_fixtures.operator_mfa
operator_headers = api_fixtures.operator_headers
acme = api_fixtures.acme
globex = api_fixtures.globex
worker = api_fixtures.worker


def submitted(platform: Platform, tenant: TenantCtx) -> list[dict[str, str]]:
    """The correlations of the tenant's job submissions, oldest first."""
    return [dict(e.correlations) for e in _entries(platform, tenant, "job.submitted")]


def _entries(platform: Platform, tenant: TenantCtx, action: str) -> list[AuditEntry]:
    with platform.database.unit_of_work() as uow:
        return [e for e in uow.audit.entries(tenant.tenant_id) if e.action == action]


def _raw_audit_key(platform: Platform, tenant: TenantCtx) -> bytes:
    with platform.database.unit_of_work() as uow:
        sealed = uow.audit_keys.get(tenant.tenant_id)
        assert sealed is not None
        binding = ArtifactBinding(tenant.tenant_id, "audit", tenant.tenant_id, "audit-key")
        return platform.key_hierarchy.open(uow, sealed, binding)


def test_equal_circuits_correlate_within_a_tenant(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    for source in (BELL, BELL, GHZ):
        assert submit(client, acme, source=source).status_code == 201

    first, second, other = submitted(platform, acme)

    assert first["circuit"].startswith("hmac-sha256:")
    assert first == second
    assert other["circuit"] != first["circuit"]


def test_the_same_circuit_gives_another_digest_in_another_tenant(
    client: TestClient, platform: Platform, acme: TenantCtx, globex: TenantCtx
) -> None:
    submit(client, acme)
    submit(client, globex)

    assert submitted(platform, acme)[0]["circuit"] != submitted(platform, globex)[0]["circuit"]


def test_a_digest_is_a_keyed_mac_of_the_kind_and_value_not_a_plain_hash(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    key = _raw_audit_key(platform, acme)

    digest = submitted(platform, acme)[0]["circuit"]

    assert digest != "hmac-sha256:" + hashlib.sha256(BELL.encode()).hexdigest()
    label = b"qplane/audit-correlation/v1" + struct.pack(">I", len(b"circuit")) + b"circuit"
    expected = hmac.new(key, label + BELL.encode(), hashlib.sha256).hexdigest()
    assert digest == "hmac-sha256:" + expected
    # The kind is part of the input: the same bytes as a result do not match.
    with platform.database.unit_of_work() as uow:
        as_result = Correlator(platform.key_hierarchy).digest(
            uow, acme.tenant_id, "result", BELL.encode()
        )
    assert as_result != digest


def test_the_audit_key_is_stored_only_sealed(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    submit(client, acme)
    key = _raw_audit_key(platform, acme)
    assert len(key) == 32

    forms = (key, key.hex().encode(), key.hex().upper().encode())
    with platform.database.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditKeyRow)) == 1
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                stored = b"".join(_as_bytes(value) for value in row)
                assert not [form for form in forms if form in stored], table.name


def test_rotation_and_rewrap_keep_digests_stable(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    ring = f"{acme.tenant_id}/*"
    submit(client, acme)
    with platform.database.unit_of_work() as uow:
        platform.key_hierarchy.rotate(uow, ring)
        uow.commit()
    with platform.database.unit_of_work() as uow:
        assert platform.key_hierarchy.rewrap(uow, ring) >= 2  # the circuit and the audit key
        uow.commit()
        assert uow.audit_keys.get(acme.tenant_id).kek_version == 2  # type: ignore[union-attr]

    submit(client, acme)

    first, second = submitted(platform, acme)
    assert first == second


def test_after_a_shred_correlation_fails_closed_and_jobs_still_run(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    admin = with_mfa(client, acme)
    own_ring = client.post(
        f"/v1/tenants/{acme.tenant_id}/keys/projects/{acme.project_id}", headers=admin.headers
    )
    assert own_ring.status_code == 201, own_ring.text  # the project's data survives the shred
    submit(client, acme)
    with platform.database.unit_of_work() as uow:
        platform.key_hierarchy.shred(uow, f"{acme.tenant_id}/*")  # the tenant ring: the audit key
        uow.commit()

    response = submit(client, acme)

    assert response.status_code == 201, response.text
    assert submitted(platform, acme)[-1] == {"circuit": UNAVAILABLE}
    with platform.database.unit_of_work() as uow:
        digest = Correlator(platform.key_hierarchy).digest(uow, acme.tenant_id, "circuit", b"x")
    assert digest == UNAVAILABLE


def test_a_retired_job_keeps_the_fact_and_the_digests_never_the_content(
    client: TestClient, platform: Platform, acme: TenantCtx, worker: InProcessWorker
) -> None:
    job_id = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    circuit = submitted(platform, acme)[0]["circuit"]
    result = dict(_entries(platform, acme, "job.succeeded")[0].correlations)["result"]

    retired = Sweeper(platform.database, max_attempts=3, retention_days=0).retire()

    assert retired == 1
    with platform.database.engine.connect() as conn:
        left = conn.scalar(
            select(func.count()).select_from(ArtifactRow).where(ArtifactRow.job_id == job_id)
        )
    assert left == 0
    (deleted,) = _entries(platform, acme, "artifact.delete")
    assert (deleted.job_id, deleted.backend, deleted.target) == (job_id, "aer_statevector", job_id)
    assert dict(deleted.correlations) == {"circuit": circuit, "result": result}
    assert "qreg" not in repr(deleted)
    assert client.get(f"/v1/jobs/{job_id}", headers=acme.headers).json()["state"] == "retired"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()
