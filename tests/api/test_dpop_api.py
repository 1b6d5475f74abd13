"""Sender-constrained tokens (DPoP, RFC 9449) through the one auth path, over HTTP.

Bound tokens come from the token exchange with a ``DPoP`` header; each
refusal is a 401 with a ``DPoP`` challenge and an audit entry.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import ECKey

from qplane.bootstrap import Platform
from qplane.domain.audit import PLATFORM_LOG, AuditEntry, Outcome
from qplane.identity.dpop import REGISTRY, access_token_hash
from qplane.sdk.dpop import DPoPKey
from tests.api.conftest import TenantCtx
from tests.api.workload_support import (
    BASE,
    add_policy,
    bearer,
    dpop_headers,
    exchange,
)
from tests.api.workload_support import acme as acme
from tests.api.workload_support import platform as platform
from tests.identity.federation_issuer import ExternalIssuer
from tests.identity.federation_issuer import external_issuer as external_issuer


def _bound_token(client: TestClient, acme: TenantCtx, issuer: ExternalIssuer, key: DPoPKey) -> str:
    add_policy(client, acme, issuer, require_dpop=True)
    response = exchange(client, issuer.token(), acme.project_id, dpop=key)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    return str(response.json()["access_token"])


def _denied_requests(platform: Platform) -> list[AuditEntry]:
    """401s happen before anyone is known, so they are audited on the platform chain."""
    with platform.database.unit_of_work() as uow:
        return [e for e in uow.audit.entries(PLATFORM_LOG) if e.outcome is Outcome.DENIED]


def _assert_refused(response: Any, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")
    assert reason in response.json()["detail"]


def test_a_bound_token_works_with_a_fresh_proof_per_request(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    token = _bound_token(client, acme, external_issuer, key)
    for _ in range(2):
        assert client.get("/v1/me", headers=dpop_headers(key, token, "GET", "/v1/me")).is_success


def test_a_policy_requiring_dpop_refuses_an_exchange_without_a_proof(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    add_policy(client, acme, external_issuer, require_dpop=True)
    response = exchange(client, external_issuer.token(), acme.project_id)
    assert response.status_code == 400
    assert "requires DPoP" in response.json()["detail"]


def test_a_stolen_bound_token_is_useless_as_a_bearer_token(
    client: TestClient, platform: Platform, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    token = _bound_token(client, acme, external_issuer, DPoPKey.generate())
    _assert_refused(client.get("/v1/me", headers=bearer(token)), "DPoP scheme")
    assert any("DPoP scheme" in (e.detail or "") for e in _denied_requests(platform))


def test_wrong_method_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    token = _bound_token(client, acme, external_issuer, key)
    _assert_refused(client.get("/v1/me", headers=dpop_headers(key, token, "POST", "/v1/me")), "htm")


def test_wrong_url_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    token = _bound_token(client, acme, external_issuer, key)
    headers = dpop_headers(key, token, "GET", "/v1/backends")
    _assert_refused(client.get("/v1/me", headers=headers), "htu")


def test_a_replayed_proof_is_refused(
    client: TestClient, platform: Platform, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    token = _bound_token(client, acme, external_issuer, key)
    headers = dpop_headers(key, token, "GET", "/v1/me")
    assert client.get("/v1/me", headers=headers).status_code == 200
    _assert_refused(client.get("/v1/me", headers=headers), "already used")
    assert any("already used" in (e.detail or "") for e in _denied_requests(platform))


def test_a_proof_for_another_token_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    token = _bound_token(client, acme, external_issuer, key)
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": key.proof("GET", BASE + "/v1/me", "another-token"),
    }
    _assert_refused(client.get("/v1/me", headers=headers), "ath")


def test_a_proof_by_another_key_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    token = _bound_token(client, acme, external_issuer, DPoPKey.generate())
    thief = DPoPKey.generate()
    _assert_refused(
        client.get("/v1/me", headers=dpop_headers(thief, token, "GET", "/v1/me")),
        "does not match the token's key",
    )


@pytest.mark.parametrize(("offset", "reason"), [(-300, "too old"), (300, "in the future")])
def test_a_proof_outside_the_iat_window_is_refused(
    client: TestClient,
    acme: TenantCtx,
    external_issuer: ExternalIssuer,
    offset: int,
    reason: str,
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    token = _bound_token(client, acme, external_issuer, DPoPKey(key))
    claims = {
        "jti": "j-" + str(offset),
        "htm": "GET",
        "htu": BASE + "/v1/me",
        "iat": int(time.time()) + offset,
        "ath": access_token_hash(token),
    }
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    proof = jws.serialize_compact(header, json.dumps(claims).encode(), key, registry=REGISTRY)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    _assert_refused(client.get("/v1/me", headers=headers), reason)


def test_an_unbound_token_sent_as_dpop_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    key = DPoPKey.generate()
    headers = dpop_headers(key, acme.admin_token, "GET", "/v1/me")
    _assert_refused(client.get("/v1/me", headers=headers), "not bound")


def test_a_bad_proof_at_the_exchange_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    add_policy(client, acme, external_issuer)
    key = DPoPKey.generate()
    wrong_url = {"DPoP": key.proof("POST", BASE + "/v1/elsewhere")}
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": external_issuer.token(),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "audience": acme.project_id,
    }
    response = client.post("/v1/oauth/token-exchange", data=form, headers=wrong_url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
