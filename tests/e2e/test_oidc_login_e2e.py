"""SSO end to end: the real server on loopback, a real OpenID provider, a browser, the CLI.

The browser is an httpx client that follows every redirect over real HTTP —
qplane's login, the IdP's authorization endpoint and forms, qplane's callback.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from qplane.bootstrap import Platform
from qplane.embedded import EmbeddedPlatform
from qplane.identity.stepup import MFA_ACR
from qplane.sdk import QplaneClient
from tests.cli.cli_harness import Cli
from tests.e2e.conftest import OPERATOR_EMAIL, Starter
from tests.idp.harness import Browser, IdpClient, IdpUser, OidcTestProvider

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "idp-password-1"


def _mfa_client(embedded: EmbeddedPlatform, email: str) -> QplaneClient:
    """An SDK client holding a token right after an MFA login (IdP changes need step-up)."""
    platform: Platform | None = embedded.platform
    assert platform is not None
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login(email)
    assert found is not None
    pair = platform.sessions.start(found[0], amr=("pwd", "otp"), acr=MFA_ACR)
    return QplaneClient(embedded.url, pair.access_token)


def test_a_user_signs_in_through_the_idp_and_uses_the_platform(
    start_platform: Starter, tmp_path: Path
) -> None:
    embedded = start_platform(workers=0, insecure_oidc_http_issuers=True)
    registration = IdpClient(
        "qplane-e2e", "e2e-client-secret-0123456789", embedded.url + "/v1/sso/callback"
    )
    users = [IdpUser("dana", PASSWORD, "e2e-0001", "dana@acme.test", ["qplane-users"])]
    with OidcTestProvider.running(tmp_path / "idp", [registration], users) as idp:
        operator = _mfa_client(embedded, OPERATOR_EMAIL)
        tenant = operator.create_tenant("acme")
        project = operator.create_project(tenant["id"], "research")
        operator.create_user(tenant["id"], "admin@acme.test", "tenant-password-1", ["tenant_admin"])
        admin = _mfa_client(embedded, "admin@acme.test")
        admin.add_identity_provider(
            tenant["id"],
            {
                "name": "corp",
                "issuer": idp.issuer,
                "client_id": registration.client_id,
                "client_secret": registration.client_secret,
                "allowed_domains": ["acme.test"],
                "role_mappings": [{"value": "qplane-users", "roles": ["member"]}],
                "project_mappings": [{"value": "qplane-users", "project_id": project["id"]}],
            },
        )
        with httpx.Client(base_url=embedded.url, timeout=10) as qplane:
            browser = Browser(qplane, embedded.url)
            answer = browser.login("acme", "dana", PASSWORD)
            browser.close()

        assert answer.status_code == 200, answer.text
        user = QplaneClient(embedded.url, answer.json()["access_token"])
        me = user.whoami()
        assert me["tenant_id"] == tenant["id"]
        assert me["roles"] == ["member"]
        assert [p["name"] for p in user.projects(tenant["id"])] == ["research"]
        # The CLI's way in (`qplane login --sso`) is tests/e2e/test_device_login_e2e.py.


def test_the_cli_registers_lists_and_removes_a_provider(
    start_platform: Starter, tmp_path: Path
) -> None:
    embedded = start_platform(workers=0, insecure_oidc_http_issuers=True)
    operator = _mfa_client(embedded, OPERATOR_EMAIL)
    tenant = operator.create_tenant("acme")
    operator.create_user(tenant["id"], "admin@acme.test", "tenant-password-1", ["tenant_admin"])
    admin = _mfa_client(embedded, "admin@acme.test")
    cli = Cli(tmp_path / "cli")
    session = {"url": embedded.url, "token": admin.token}
    (tmp_path / "cli").mkdir(mode=0o700)
    (tmp_path / "cli" / "credentials.json").write_text(json.dumps(session))
    (tmp_path / "cli" / "credentials.json").chmod(0o600)

    added = cli.ok(
        "sso", "add", "okta",
        "--issuer", "http://127.0.0.1:9/okta",
        "--client-id", "qplane",
        "--domain", "acme.test",
        "--role", "groups=qplane-admins:tenant_admin,member",
        "--client-secret-stdin",
        input="very-secret-value\n",
    )  # fmt: skip
    listed = cli.ok("sso", "list")

    assert "very-secret-value" not in added.output + listed.output
    assert "okta" in listed.stdout
    assert "groups=qplane-admins:member,tenant_admin" in listed.stdout
    provider_id = admin.identity_providers(tenant["id"])[0]["id"]
    cli.ok("sso", "remove", provider_id)
    assert admin.identity_providers(tenant["id"]) == []
