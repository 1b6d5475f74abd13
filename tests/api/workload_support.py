"""Shared pieces of the workload-identity API tests: a platform that trusts loopback issuers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.identity.federation import GRANT_TYPE, JWT_TOKEN_TYPE
from qplane.sdk.dpop import DPoPKey
from tests.api.conftest import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    TenantCtx,
    make_tenant,
    with_mfa,
)
from tests.identity.federation_issuer import AUDIENCE, SUBJECT, ExternalIssuer

BASE = "http://testserver"
EXCHANGE = "/v1/oauth/token-exchange"


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API tests' platform, allowed to trust an http issuer on loopback."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=BASE,
        insecure_federation_http_issuers=True,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def acme(client: TestClient, operator_headers: dict[str, str]) -> TenantCtx:
    """Tenant acme whose admin has a recent MFA: trust policies are privileged (step-up)."""
    return with_mfa(client, make_tenant(client, operator_headers, "acme"))


def add_policy(
    client: TestClient, ctx: TenantCtx, issuer: ExternalIssuer, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ci-main",
        "issuer": issuer.url,
        "audience": AUDIENCE,
        "conditions": [
            {"claim": "sub", "op": "eq", "value": SUBJECT},
            {"claim": "repository_owner", "value": "acme"},
        ],
        "roles": ["member"],
        "max_ttl_s": 300,
        **overrides,
    }
    response = client.post(
        f"/v1/projects/{ctx.project_id}/trust-policies", json=body, headers=ctx.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def exchange(
    client: TestClient,
    subject_token: str,
    project_id: str,
    *,
    dpop: DPoPKey | None = None,
    path: str = EXCHANGE,
    **fields: str,
) -> Response:
    form = {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": JWT_TOKEN_TYPE,
        "audience": project_id,
        **fields,
    }
    headers = {"DPoP": dpop.proof("POST", BASE + path)} if dpop is not None else {}
    response: Response = client.post(path, data=form, headers=headers)
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dpop_headers(key: DPoPKey, token: str, method: str, path: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, BASE + path, token)}


def denied_exchanges(client: TestClient, ctx: TenantCtx) -> list[dict[str, Any]]:
    params = {"action": "auth.token_exchange", "outcome": "denied", "limit": 200}
    items = client.get("/v1/audit/entries", params=params, headers=ctx.headers).json()["items"]
    return list(items)
