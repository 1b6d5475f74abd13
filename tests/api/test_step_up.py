"""Privileged operations need a recent MFA and answer the RFC 9470 challenge otherwise."""

from __future__ import annotations

import time

import pyotp
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, TotpEnrolment, login

CHALLENGE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="this action needs multi-factor authentication; '
    'log in again with a second factor", '
    'acr_values="urn:qplane:acr:mfa", max_age=900'
)


def test_password_only_operator_gets_the_exact_rfc9470_challenge(client: TestClient) -> None:
    token = login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    response = client.post(
        "/v1/tenants", json={"name": "acme"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["type"].endswith("/insufficient-user-authentication")
    assert body["acr_values"] == "urn:qplane:acr:mfa"
    assert body["max_age"] == 900


def test_worker_registration_is_privileged_too(client: TestClient) -> None:
    token = login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    response = client.post(
        "/v1/workers",
        json={"name": "w1", "public_jwk": "{}", "backends": ["aer_statevector"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]


def test_a_fresh_mfa_login_passes(client: TestClient, operator_mfa: TotpEnrolment) -> None:
    mfa_token = client.post(
        "/v1/auth/login", json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}
    ).json()["mfa_token"]
    session = client.post(
        "/v1/auth/mfa",
        json={"mfa_token": mfa_token, "totp": pyotp.TOTP(operator_mfa.secret).at(time.time() + 30)},
    ).json()
    response = client.post(
        "/v1/tenants",
        json={"name": "acme"},
        headers={"Authorization": f"Bearer {session['access_token']}"},
    )
    assert response.status_code == 201, response.text


def test_step_up_endpoint_turns_a_stale_session_fresh(
    client: TestClient, platform: Platform, operator_mfa: TotpEnrolment
) -> None:
    previous = platform.authenticator.step_up_max_age_s
    platform.authenticator.step_up_max_age_s = 1
    try:
        time.sleep(2.1)
        stale = client.post("/v1/tenants", json={"name": "acme"}, headers=operator_mfa.headers)
        assert stale.status_code == 401
        assert "max_age=1" in stale.headers["WWW-Authenticate"]
        stepped = client.post(
            "/v1/auth/step-up",
            json={"totp": pyotp.TOTP(operator_mfa.secret).at(time.time() + 30)},
            headers=operator_mfa.headers,
        )
        assert stepped.status_code == 200, stepped.text
        fresh = {"Authorization": f"Bearer {stepped.json()['access_token']}"}
        assert client.post("/v1/tenants", json={"name": "acme"}, headers=fresh).status_code == 201
    finally:
        platform.authenticator.step_up_max_age_s = previous


def test_step_up_refused_without_a_valid_code(
    client: TestClient, operator_mfa: TotpEnrolment
) -> None:
    response = client.post(
        "/v1/auth/step-up", json={"totp": "000000"}, headers=operator_mfa.headers
    )
    assert response.status_code == 401


def test_reads_need_no_step_up(client: TestClient) -> None:
    token = login(client, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    listed = client.get("/v1/tenants", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
