"""TOTP enrolment, MFA login, replay and recovery codes through the real API."""

from __future__ import annotations

import time

import pyotp
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.identity.tokens import TokenVerifier
from tests.api.conftest import TenantCtx, TotpEnrolment, enrol_totp, login

PASSWORD = "tenant-password-1"


def _claims(platform: Platform, token: str) -> dict[str, object]:
    verifier: TokenVerifier = platform.verifier
    claims = verifier.verify(token)
    return {"amr": list(claims.amr), "acr": claims.acr, "auth_time": claims.auth_time}


def _mfa_token(client: TestClient, email: str) -> str:
    response = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["type"].endswith("/mfa-required")
    return str(body["mfa_token"])


def _next_code(secret: str) -> str:
    """A code for the next time step: the current one was spent by confirming."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_enrolment_shows_the_secret_once_and_activates_only_after_a_valid_code(
    client: TestClient, acme: TenantCtx
) -> None:
    started = client.post("/v1/me/mfa/totp", headers=acme.headers)
    assert started.status_code == 201
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert body["secret"] in body["otpauth_uri"]
    assert client.get("/v1/me/mfa", headers=acme.headers).json()["totp"] is False
    wrong = client.post("/v1/me/mfa/totp/confirm", json={"code": "000000"}, headers=acme.headers)
    assert wrong.status_code == 422
    # Not active yet: a password still logs in.
    assert login(client, acme.email, PASSWORD)
    confirmed = client.post(
        "/v1/me/mfa/totp/confirm",
        json={"code": pyotp.TOTP(body["secret"]).now()},
        headers=acme.headers,
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    status = client.get("/v1/me/mfa", headers=acme.headers).json()
    assert status == {"totp": True, "recovery_codes_left": 10}


def test_the_secret_is_stored_sealed(
    platform: Platform, client: TestClient, acme: TenantCtx
) -> None:
    enrolled = enrol_totp(client, acme.admin_token)
    with platform.database.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT ciphertext FROM mfa_totp")).all()
    assert rows
    assert all(enrolled.secret.encode() not in bytes(row[0]) for row in rows)


def test_enrolled_user_needs_the_second_factor_and_gets_an_mfa_session(
    platform: Platform, client: TestClient, acme: TenantCtx
) -> None:
    enrolled = enrol_totp(client, acme.admin_token)
    assert "otp" in _claims(platform, enrolled.token)["amr"]
    mfa_token = _mfa_token(client, acme.email)
    # The MFA token is no access token.
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {mfa_token}"}).status_code == 401
    done = client.post(
        "/v1/auth/mfa", json={"mfa_token": mfa_token, "totp": _next_code(enrolled.secret)}
    )
    assert done.status_code == 200, done.text
    claims = _claims(platform, done.json()["access_token"])
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == "urn:qplane:acr:mfa"
    assert done.json()["refresh_token"]


def test_a_totp_code_is_accepted_once(client: TestClient, acme: TenantCtx) -> None:
    enrolled = enrol_totp(client, acme.admin_token)
    code = _next_code(enrolled.secret)
    first = client.post(
        "/v1/auth/mfa", json={"mfa_token": _mfa_token(client, acme.email), "totp": code}
    )
    assert first.status_code == 200
    replay = client.post(
        "/v1/auth/mfa", json={"mfa_token": _mfa_token(client, acme.email), "totp": code}
    )
    assert replay.status_code == 401
    # The code that confirmed enrolment was spent too.
    current = pyotp.TOTP(enrolled.secret).now()
    again = client.post(
        "/v1/auth/mfa", json={"mfa_token": _mfa_token(client, acme.email), "totp": current}
    )
    assert again.status_code == 401


def test_wrong_code_and_missing_factor_are_refused(client: TestClient, acme: TenantCtx) -> None:
    enrol_totp(client, acme.admin_token)
    mfa_token = _mfa_token(client, acme.email)
    assert client.post(
        "/v1/auth/mfa", json={"mfa_token": mfa_token, "totp": "123456"}
    ).status_code in (401,)
    assert client.post("/v1/auth/mfa", json={"mfa_token": mfa_token}).status_code == 422
    assert (
        client.post("/v1/auth/mfa", json={"mfa_token": "not-a-token", "totp": "123456"}).status_code
        == 401
    )


def test_recovery_codes_work_once_each(
    platform: Platform, client: TestClient, acme: TenantCtx
) -> None:
    enrolled: TotpEnrolment = enrol_totp(client, acme.admin_token)
    code = enrolled.recovery_codes[0]
    first = client.post(
        "/v1/auth/mfa",
        json={"mfa_token": _mfa_token(client, acme.email), "recovery_code": code.upper()},
    )
    assert first.status_code == 200, first.text
    assert _claims(platform, first.json()["access_token"])["amr"] == ["pwd", "mfa"]
    again = client.post(
        "/v1/auth/mfa", json={"mfa_token": _mfa_token(client, acme.email), "recovery_code": code}
    )
    assert again.status_code == 401
    left = client.get("/v1/me/mfa", headers=enrolled.headers).json()["recovery_codes_left"]
    assert left == 9


def test_replacing_an_active_authenticator_needs_a_recent_mfa(
    client: TestClient, acme: TenantCtx
) -> None:
    enrolled = enrol_totp(client, acme.admin_token)
    # A password-only session (minted before enrolment) cannot take over the factor.
    refused = client.post("/v1/me/mfa/totp", headers=acme.headers)
    assert refused.status_code == 401
    assert "insufficient_user_authentication" in refused.headers["WWW-Authenticate"]
    assert client.post("/v1/me/mfa/totp", headers=enrolled.headers).status_code == 201
