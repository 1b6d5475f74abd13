"""Revocation: cut off a token, a principal or a tenant; it fails on the very next request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qplane.bootstrap import Platform
from qplane.cli.main import app as cli_app
from tests.api.conftest import TenantCtx, login

PROBE = "/v1/backends"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login_pair(client: TestClient, email: str, password: str) -> tuple[str, str]:
    body = client.post("/v1/auth/login", json={"email": email, "password": password}).json()
    return body["access_token"], body["refresh_token"]


def _refresh(client: TestClient, refresh_token: str) -> int:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return client.post("/v1/auth/token", data=form).status_code


def _add_member(client: TestClient, ctx: TenantCtx, name: str) -> tuple[str, str]:
    email = f"{name}@{ctx.email.split('@')[1]}"
    created = client.post(
        f"/v1/tenants/{ctx.tenant_id}/users",
        json={"email": email, "password": "member-password-1", "roles": ["member"]},
        headers=ctx.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], email


def _revoke(client: TestClient, headers: dict[str, str], scope: str, id_: str | None = None,
            **extra: str) -> tuple[int, dict[str, object]]:  # fmt: skip
    response = client.post("/v1/revocations", json={"scope": scope, "id": id_, **extra},
                           headers=headers)  # fmt: skip
    return response.status_code, response.json()


def _tenant_actions(platform: Platform, tenant_id: str) -> list[str]:
    with platform.database.unit_of_work() as uow:
        return [entry.action for entry in uow.audit.entries(tenant_id)]


def test_tenant_admin_revokes_a_member_everywhere(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    member_id, email = _add_member(client, acme, "bob")
    access, refresh = _login_pair(client, email, "member-password-1")
    assert client.get(PROBE, headers=_bearer(access)).status_code == 200
    status, body = _revoke(client, acme.headers, "principal", member_id)
    assert status == 200, body
    assert body["refresh_tokens_revoked"] == 1
    refused = client.get(PROBE, headers=_bearer(access))
    assert (refused.status_code, refused.json()["detail"]) == (401, "token revoked")
    assert _refresh(client, refresh) == 401
    assert "revocation.principal" in _tenant_actions(platform, acme.tenant_id)
    assert client.get(PROBE, headers=acme.headers).status_code == 200  # the admin is unaffected


def test_tenant_admin_cannot_revoke_another_tenants_principal(
    client: TestClient, acme: TenantCtx, globex: TenantCtx
) -> None:
    member_id, _ = _add_member(client, globex, "carol")
    status, _ = _revoke(client, acme.headers, "principal", member_id)
    assert status == 404


def test_members_revoke_only_themselves(client: TestClient, acme: TenantCtx) -> None:
    bob_id, bob_email = _add_member(client, acme, "bob")
    carol_id, _ = _add_member(client, acme, "carol")
    bob = _bearer(login(client, bob_email, "member-password-1"))
    assert _revoke(client, bob, "principal", carol_id)[0] == 403
    assert _revoke(client, bob, "tenant", acme.tenant_id)[0] == 403
    assert _revoke(client, bob, "principal", bob_id)[0] == 200  # "log out everywhere"
    assert client.get(PROBE, headers=bob).status_code == 401


def test_logout_revokes_only_the_current_token_and_its_session(
    client: TestClient, acme: TenantCtx
) -> None:
    first, first_refresh = _login_pair(client, acme.email, "tenant-password-1")
    other, other_refresh = _login_pair(client, acme.email, "tenant-password-1")
    status, body = _revoke(client, _bearer(first), "self", refresh_token=first_refresh)
    assert status == 200, body
    assert client.get(PROBE, headers=_bearer(first)).status_code == 401
    assert _refresh(client, first_refresh) == 401
    assert client.get(PROBE, headers=_bearer(other)).status_code == 200
    assert _refresh(client, other_refresh) == 200


def test_logout_cannot_end_someone_elses_session(client: TestClient, acme: TenantCtx) -> None:
    _, email = _add_member(client, acme, "bob")
    _, bob_refresh = _login_pair(client, email, "member-password-1")
    status, _ = _revoke(client, acme.headers, "self", refresh_token=bob_refresh)
    assert status == 404
    assert _refresh(client, bob_refresh) == 200


def test_tenant_admin_denylists_one_token_by_jti(
    client: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    _, email = _add_member(client, acme, "bob")
    token = login(client, email, "member-password-1")
    jti = platform.verifier.verify(token).jti
    assert _revoke(client, acme.headers, "token", jti)[0] == 200
    assert client.get(PROBE, headers=_bearer(token)).json()["detail"] == "token revoked"


def test_another_tenants_jti_denylist_does_not_reach_us(
    client: TestClient, platform: Platform, acme: TenantCtx, globex: TenantCtx
) -> None:
    jti = platform.verifier.verify(acme.admin_token).jti
    assert _revoke(client, globex.headers, "token", jti)[0] == 200
    assert client.get(PROBE, headers=acme.headers).status_code == 200


def test_operator_revokes_a_whole_tenant(
    client: TestClient,
    platform: Platform,
    operator_headers: dict[str, str],
    acme: TenantCtx,
    globex: TenantCtx,
) -> None:
    _, refresh = _login_pair(client, acme.email, "tenant-password-1")
    assert _revoke(client, acme.headers, "tenant", acme.tenant_id)[0] == 403
    status, body = _revoke(client, operator_headers, "tenant", acme.tenant_id)
    assert status == 200, body
    assert client.get(PROBE, headers=acme.headers).status_code == 401
    assert _refresh(client, refresh) == 401
    assert client.get(PROBE, headers=globex.headers).status_code == 200
    assert "revocation.tenant" in _tenant_actions(platform, acme.tenant_id)


def test_revocation_needs_an_id_and_a_known_scope(client: TestClient, acme: TenantCtx) -> None:
    assert _revoke(client, acme.headers, "principal")[0] == 422
    assert _revoke(client, acme.headers, "everyone", "x")[0] == 422


@pytest.mark.parametrize("option", ["--principal", "--tenant", "--token-jti"])
def test_cli_revokes_on_the_server(
    client: TestClient,
    platform: Platform,
    acme: TenantCtx,
    option: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claims = platform.verifier.verify(acme.admin_token)
    subject = {"--principal": claims.sub, "--tenant": acme.tenant_id, "--token-jti": claims.jti}
    env = {
        "QPLANE_DATA_DIR": str(Path(platform.settings.data_dir)),
        "QPLANE_DATABASE_URL": platform.settings.effective_database_url,
    }
    for name in [n for n in os.environ if n.startswith("QPLANE_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(cli_app, ["revoke", option, subject[option]], env=env)
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    assert client.get(PROBE, headers=acme.headers).status_code == 401


def test_cli_revoke_needs_exactly_one_subject() -> None:
    result = CliRunner().invoke(cli_app, ["revoke"])
    assert result.exit_code == 2
