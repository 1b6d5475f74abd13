"""A tenant moves its data to a key in its own PKCS#11 token, and controls it from there.

Through the real server: the tenant admin rotates onto the customer key,
rewraps and retires the platform's version; when the customer disables the
key in its token every read answers 503 saying why, and reads work again
once the key is re-enabled. The token is a separate SoftHSM token.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.crypto.keyfiles import write_new_secret_file
from tests.api.conftest import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    InProcessWorker,
    TenantCtx,
    with_mfa,
)
from tests.api.test_jobs_api import run_leased_job, submit
from tests.crypto.softhsm import MODULE, SoftHsm, TokenOwner, softhsm_for
from tests.shared_app import app_for

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
CUSTOMER_KEY = "acme-qplane-kek"


@pytest.fixture
def customer(request: pytest.FixtureRequest) -> Iterator[TokenOwner]:
    hsm: SoftHsm = softhsm_for(request)
    owner = hsm.new_token("acme")
    owner.generate_aes_key(CUSTOMER_KEY)
    yield owner
    hsm.delete_token(owner)


@pytest.fixture
def platform(tmp_path: Path, database_url: str, customer: TokenOwner) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        pkcs11_allowed_modules=[MODULE],
        pkcs11_customer_pin_dir=tmp_path / "pins",
        pkcs11_login_retry_s=0,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(app_for(platform)) as test_client:
        yield test_client


def _keys(client: TestClient, admin: TenantCtx, path: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/v1/tenants/{admin.tenant_id}/keys/{path}", json=body, headers=admin.headers
    )


def test_a_tenant_moves_to_its_own_key_and_disabling_it_locks_its_data(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    worker: InProcessWorker,
    customer: TokenOwner,
    tmp_path: Path,
) -> None:
    admin = with_mfa(client, acme)
    job_id = submit(client, acme).json()["id"]
    run_leased_job(client, platform, worker)
    # The operator installs the customer's PIN for qplane; the API never sees it.
    write_new_secret_file(tmp_path / "pins" / acme.tenant_id / "acme.pin", customer.pin.encode())
    customer_key = {
        "module": str(MODULE),
        "token_label": customer.label,
        "key_label": CUSTOMER_KEY,
        "pin_file": "acme.pin",
    }

    rotated = _keys(client, admin, "rotate", {"customer_key": customer_key})
    assert rotated.status_code == 200, rotated.text
    assert [(v["version"], v["provider"]) for v in rotated.json()["versions"]] == [
        (1, "local"),
        (2, "cmk"),
    ]
    assert _keys(client, admin, "rewrap", {}).json()["rewrapped"] >= 2
    retired = _keys(client, admin, "retire", {"below_version": 2})
    assert retired.status_code == 200, retired.text
    assert client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).status_code == 200

    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", False)
    locked = client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers)

    assert locked.status_code == 503
    assert locked.json()["type"].endswith("/key-unavailable")
    assert "disabled" in locked.json()["detail"]
    assert customer.pin not in locked.text

    customer.set_attribute(CUSTOMER_KEY, "DECRYPT", True)
    assert client.get(f"/v1/jobs/{job_id}/result", headers=acme.headers).status_code == 200


def test_a_customer_key_config_that_carries_a_pin_or_an_unlisted_module_is_refused(
    client: TestClient, acme: TenantCtx, customer: TokenOwner
) -> None:
    admin = with_mfa(client, acme)
    base = {
        "module": str(MODULE),
        "token_label": customer.label,
        "key_label": CUSTOMER_KEY,
        "pin_file": "acme.pin",
    }
    with_pin = _keys(client, admin, "rotate", {"customer_key": base | {"pin": customer.pin}})
    elsewhere = _keys(client, admin, "rotate", {"customer_key": base | {"module": "/tmp/evil.so"}})

    assert with_pin.status_code == 422
    assert customer.pin not in with_pin.text
    assert elsewhere.status_code == 422
    assert "allow-list" in elsewhere.json()["detail"]
    rings = client.get(f"/v1/tenants/{acme.tenant_id}/keys", headers=acme.headers).json()
    assert [len(r["versions"]) for r in rings] == [1]  # nothing was half-made
