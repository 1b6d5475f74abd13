"""The OAuth token endpoint: login hands out a refresh token; each refresh rotates it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qplane.api.routes import sessions as session_routes
from qplane.bootstrap import Platform
from tests.api.conftest import TenantCtx


def _login(client: TestClient, ctx: TenantCtx) -> dict[str, Any]:
    response = client.post(
        "/v1/auth/login", json={"email": ctx.email, "password": "tenant-password-1"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_login_returns_a_ten_minute_token_and_a_refresh_token(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    body = _login(client, acme)
    assert body["expires_in"] == 600
    assert body["refresh_token"].startswith("qprt_")
    claims = platform.verifier.verify(body["access_token"])
    assert claims.amr == ("pwd",)
    assert claims.acr == "urn:qplane:acr:pwd"


def test_refresh_rotates_and_the_new_access_token_works(
    client: TestClient, acme: TenantCtx
) -> None:
    refresh = _login(client, acme)["refresh_token"]
    for _ in range(3):
        response = client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["refresh_token"] != refresh
        refresh = body["refresh_token"]
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert client.get("/v1/backends", headers=headers).status_code == 200


def test_token_endpoint_takes_only_form_encoded_known_grants(
    client: TestClient, acme: TenantCtx
) -> None:
    refresh = _login(client, acme)["refresh_token"]
    as_json = client.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert as_json.status_code == 422
    unknown = client.post("/v1/auth/token", data={"grant_type": "password", "username": "x"})
    assert unknown.status_code == 422
    missing = client.post("/v1/auth/token", data={"grant_type": "refresh_token"})
    assert missing.status_code == 422


_ECHO_GRANT = "urn:qplane:test:echo"


def _echo(_request: Any, _qp: Platform, form: dict[str, str]) -> dict[str, Any]:
    return {"echo": form["value"]}


def test_other_grants_plug_into_the_same_endpoint(client: TestClient) -> None:
    session_routes.register_grant(_ECHO_GRANT, _echo)  # idempotent for the same handler
    response = client.post("/v1/auth/token", data={"grant_type": _ECHO_GRANT, "value": "hi"})
    assert response.json() == {"echo": "hi"}
    with pytest.raises(ValueError, match="already served"):
        session_routes.register_grant(_ECHO_GRANT, lambda *_: {})


def test_dpop_bound_session_refreshes_only_with_a_proof_by_its_key(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    from qplane.sdk.dpop import DPoPKey

    with platform.database.unit_of_work() as uow:
        principal = uow.principals.for_login(acme.email)
    assert principal is not None
    key, stranger = DPoPKey.generate(), DPoPKey.generate()
    pair = platform.sessions.start(principal[0], amr=("pwd",), acr="pwd", dpop_jkt=key.jkt)
    form = {"grant_type": "refresh_token", "refresh_token": pair.refresh_token or ""}
    url = "http://testserver/v1/auth/token"
    assert client.post("/v1/auth/token", data=form).status_code == 401
    wrong = client.post("/v1/auth/token", data=form, headers={"DPoP": stranger.proof("POST", url)})
    assert (wrong.status_code, wrong.json()["detail"]) == (
        401,
        "refresh token is bound to another key",
    )
    right = client.post("/v1/auth/token", data=form, headers={"DPoP": key.proof("POST", url)})
    assert right.status_code == 200, right.text
    assert platform.verifier.verify(right.json()["access_token"]).cnf_jkt == key.jkt
