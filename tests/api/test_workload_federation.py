"""Workload identity federation over HTTP: trust policies and the RFC 8693 token exchange.

A real external issuer runs on loopback (JWKS + discovery) and signs
GitHub-Actions-style tokens; every exchange, accepted or refused, is audited.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import BELL, TenantCtx, with_mfa
from tests.api.workload_support import acme as acme
from tests.api.workload_support import (
    add_policy,
    bearer,
    denied_exchanges,
    exchange,
)
from tests.api.workload_support import platform as platform
from tests.identity.federation_issuer import ExternalIssuer
from tests.identity.federation_issuer import external_issuer as external_issuer


def _job(project_id: str) -> dict[str, object]:
    return {"project_id": project_id, "source": BELL, "backend": "aer_statevector", "shots": 100}


def _second_project(client: TestClient, ctx: TenantCtx) -> str:
    response = client.post(
        f"/v1/tenants/{ctx.tenant_id}/projects", json={"name": "other"}, headers=ctx.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_matching_token_gets_a_short_lived_token_scoped_to_one_project(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    other_project = _second_project(client, acme)
    add_policy(client, acme, external_issuer)
    response = exchange(client, external_issuer.token(), acme.project_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert 0 < body["expires_in"] <= 300
    headers = bearer(body["access_token"])
    me = client.get("/v1/me", headers=headers).json()
    assert me["kind"] == "service"
    submitted = client.post("/v1/jobs", json=_job(acme.project_id), headers=headers)
    assert submitted.status_code == 201, submitted.text
    # The same tenant's other project is out of reach: it answers like a missing one.
    assert client.post("/v1/jobs", json=_job(other_project), headers=headers).status_code == 404
    listing = client.get(f"/v1/projects/{other_project}/jobs", headers=headers)
    assert listing.status_code == 404
    other_job = client.post("/v1/jobs", json=_job(other_project), headers=acme.headers).json()
    assert client.get(f"/v1/jobs/{other_job['id']}", headers=headers).status_code == 404


def test_glob_conditions_match_branches(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    conditions = [{"claim": "sub", "op": "glob", "value": "repo:acme/qml:ref:refs/heads/*"}]
    add_policy(client, acme, external_issuer, conditions=conditions)
    token = external_issuer.token(sub="repo:acme/qml:ref:refs/heads/release")
    assert exchange(client, token, acme.project_id).status_code == 200
    token = external_issuer.token(sub="repo:acme/qml:ref:refs/tags/v1")
    assert exchange(client, token, acme.project_id).status_code == 400


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "repo:evil/qml:ref:refs/heads/main"}, "no trust policy matches"),
        ({"repository_owner": "evil"}, "no trust policy matches"),
        ({"aud": "https://someone-else.test"}, "no trust policy matches"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 400}, "expired"),
        ({"jti": None}, "lacks exp, iat or jti"),
    ],
    ids=["other-subject", "other-owner", "wrong-audience", "expired", "no-jti"],
)
def test_non_matching_tokens_are_refused_and_audited(
    client: TestClient,
    acme: TenantCtx,
    external_issuer: ExternalIssuer,
    claims: dict[str, Any],
    reason: str,
) -> None:
    add_policy(client, acme, external_issuer)
    response = exchange(client, external_issuer.token(**claims), acme.project_id)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert reason in response.json()["detail"]
    assert any(reason in entry["detail"] for entry in denied_exchanges(client, acme))


def test_an_unknown_issuer_is_refused_without_being_contacted(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    add_policy(client, acme, external_issuer)
    stranger = ExternalIssuer()
    try:
        response = exchange(client, stranger.token(), acme.project_id)
        assert response.status_code == 400
        assert "issuer not trusted" in response.json()["detail"]
        assert stranger.jwks_requests == 0
    finally:
        stranger.close()


def test_a_replayed_token_is_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    add_policy(client, acme, external_issuer)
    token = external_issuer.token()
    assert exchange(client, token, acme.project_id).status_code == 200
    again = exchange(client, token, acme.project_id)
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]
    assert any("already used" in e["detail"] for e in denied_exchanges(client, acme))


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_alg_none_and_hs256_are_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer, alg: str
) -> None:
    add_policy(client, acme, external_issuer)
    secret = external_issuer.keys[-1].as_pem(private=False)
    response = exchange(client, external_issuer.unsigned_token(alg, secret), acme.project_id)
    assert response.status_code == 400
    assert denied_exchanges(client, acme)


def test_the_token_endpoint_form_is_checked(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    token = external_issuer.token()
    wrong_grant = exchange(client, token, acme.project_id, grant_type="password")
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert exchange(client, token, "not-a-project").json()["error"] == "invalid_target"
    as_json = client.post("/v1/oauth/token-exchange", json={"grant_type": "x"})
    assert as_json.status_code == 400


def test_only_tenant_admins_manage_trust_policies(
    client: TestClient, acme: TenantCtx, globex: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    created = client.post(
        f"/v1/tenants/{acme.tenant_id}/users",
        json={"email": "dev@acme.test", "password": "member-password-1", "roles": ["member"]},
        headers=acme.headers,
    )
    assert created.status_code == 201
    token = client.post(
        "/v1/auth/login", json={"email": "dev@acme.test", "password": "member-password-1"}
    ).json()["access_token"]
    path = f"/v1/projects/{acme.project_id}/trust-policies"
    body: dict[str, Any] = {
        "name": "x",
        "issuer": external_issuer.url,
        "audience": "a",
        "conditions": [],
    }
    assert client.post(path, json=body, headers=bearer(token)).status_code == 403
    assert client.get(path, headers=bearer(token)).status_code == 403
    # Another tenant's admin cannot see that the project exists.
    body["conditions"] = [{"claim": "sub", "value": "x"}]
    stranger = with_mfa(client, globex)
    assert client.post(path, json=body, headers=stranger.headers).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"roles": ["tenant_admin"]},
        {"conditions": []},
        {"conditions": [{"claim": "sub", "op": "glob", "value": "*"}]},
        {"max_ttl_s": 3600},
        {"issuer": "ftp://issuer.test"},
    ],
    ids=["admin-role", "no-conditions", "match-all-glob", "long-ttl", "not-https"],
)
def test_unsafe_trust_policies_are_refused(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer, change: dict[str, object]
) -> None:
    body = {
        "name": "ci",
        "issuer": external_issuer.url,
        "audience": "a",
        "conditions": [{"claim": "sub", "value": "x"}],
        **change,
    }
    response = client.post(
        f"/v1/projects/{acme.project_id}/trust-policies", json=body, headers=acme.headers
    )
    assert response.status_code == 422, response.text


def test_deleting_a_policy_cuts_off_its_tokens(
    client: TestClient, platform: Platform, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    policy = add_policy(client, acme, external_issuer)
    listed = client.get(f"/v1/projects/{acme.project_id}/trust-policies", headers=acme.headers)
    assert [p["id"] for p in listed.json()] == [policy["id"]]
    token = exchange(client, external_issuer.token(), acme.project_id).json()["access_token"]
    assert client.get("/v1/me", headers=bearer(token)).status_code == 200
    path = f"/v1/projects/{acme.project_id}/trust-policies/{policy['id']}"
    assert client.delete(path, headers=acme.headers).status_code == 204
    assert client.get("/v1/me", headers=bearer(token)).status_code == 401
    assert exchange(client, external_issuer.token(), acme.project_id).status_code == 400


def test_the_shared_token_endpoint_serves_the_exchange_too(
    client: TestClient, acme: TenantCtx, external_issuer: ExternalIssuer
) -> None:
    add_policy(client, acme, external_issuer)
    response = exchange(client, external_issuer.token(), acme.project_id, path="/v1/auth/token")
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
