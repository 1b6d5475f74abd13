"""A real platform (real database, keys and catalogue) behind the real ASGI app.

Requests go through FastAPI in-process; the execution plane is played by a
`WorkerKey` speaking the internal API exactly as `qplane worker` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.identity.workload import WorkerKey
from tests.shared_app import app_for

OPERATOR_EMAIL = "ops@qplane.test"
OPERATOR_PASSWORD = "operator-password-1"
BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""


@dataclass
class TenantCtx:
    tenant_id: str
    project_id: str
    admin_token: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, public_url="http://testserver"
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(app_for(platform)) as test_client:
        yield test_client


def login(client: TestClient, email: str, password: str) -> str:
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@dataclass
class TotpEnrolment:
    """What enrolling a second factor through the API gave the test."""

    secret: str
    token: str  # the session stepped up by the confirming code (amr has "otp")
    recovery_codes: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def enrol_totp(client: TestClient, token: str) -> TotpEnrolment:
    """Enrol TOTP for the holder of *token* and confirm it, as an authenticator app would."""
    headers = {"Authorization": f"Bearer {token}"}
    started = client.post("/v1/me/mfa/totp", headers=headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        "/v1/me/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    return TotpEnrolment(secret, body["access_token"], body["recovery_codes"])


@pytest.fixture
def operator_mfa(client: TestClient) -> TotpEnrolment:
    """The operator, enrolled in TOTP: operator changes need a recent MFA (step-up)."""
    return enrol_totp(client, login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD))


@pytest.fixture
def operator_headers(operator_mfa: TotpEnrolment) -> dict[str, str]:
    return operator_mfa.headers


def with_mfa(client: TestClient, tenant: TenantCtx) -> TenantCtx:
    """*tenant* whose admin enrolled TOTP: its headers satisfy step-up (IdP settings, keys)."""
    enrolled = enrol_totp(client, tenant.admin_token)
    return TenantCtx(tenant.tenant_id, tenant.project_id, enrolled.token, tenant.email)


def make_tenant(client: TestClient, operator_headers: dict[str, str], name: str) -> TenantCtx:
    tenant = client.post("/v1/tenants", json={"name": name}, headers=operator_headers).json()
    project = client.post(
        f"/v1/tenants/{tenant['id']}/projects", json={"name": "main"}, headers=operator_headers
    ).json()
    email = f"admin@{name}.test"
    created = client.post(
        f"/v1/tenants/{tenant['id']}/users",
        json={"email": email, "password": "tenant-password-1", "roles": ["tenant_admin", "member"]},
        headers=operator_headers,
    )
    assert created.status_code == 201, created.text
    token = login(client, email, "tenant-password-1")
    return TenantCtx(tenant["id"], project["id"], token, email)


@pytest.fixture
def acme(client: TestClient, operator_headers: dict[str, str]) -> TenantCtx:
    return make_tenant(client, operator_headers, "acme")


@pytest.fixture
def globex(client: TestClient, operator_headers: dict[str, str]) -> TenantCtx:
    return make_tenant(client, operator_headers, "globex")


@dataclass
class InProcessWorker:
    """Speaks the internal API with a real worker key, as `qplane worker` does."""

    client: TestClient
    worker_id: str
    key: WorkerKey
    token: str = ""

    def authenticate(self) -> None:
        from qplane.identity.workload import make_client_assertion

        assertion = make_client_assertion(
            self.key, self.worker_id, "http://testserver/internal/v1/token"
        )
        response = self.client.post(
            "/internal/v1/token", json={"worker_id": self.worker_id, "assertion": assertion}
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def worker(client: TestClient, platform: Platform, tmp_path: Path) -> InProcessWorker:
    key = WorkerKey.load_or_create(tmp_path / "worker.pem")
    record = platform.workers.register(
        None, "test-worker", key.public_jwk_json(), platform.catalogue.names()
    )
    agent = InProcessWorker(client, record.id, key)
    agent.authenticate()
    return agent
