"""A real platform behind the ASGI app, and real OpenID providers (node oidc-provider).

Two IdPs run for the whole session: ``idp_acme`` for tenant acme and
``idp_globex`` for tenant globex, each with its own client registered for
``http://testserver/v1/sso/callback``. Their users are reset after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.ports import AuditQuery
from qplane.identity.stepup import MFA_ACR
from tests.idp.harness import Browser, IdpClient, IdpUser, OidcTestProvider
from tests.shared_app import app_for

OPERATOR_EMAIL = "ops@qplane.test"
CALLBACK = "http://testserver/v1/sso/callback"
ACME_CLIENT = IdpClient("qplane-acme", "acme-client-secret-0123456789", CALLBACK)
GLOBEX_CLIENT = IdpClient(
    "qplane-globex", "globex-client-secret-9876543210", CALLBACK, "client_secret_post"
)
PASSWORD = "idp-password-1"


def acme_users() -> list[IdpUser]:
    return [
        IdpUser("alice", PASSWORD, "acme-0001", "alice@acme.test", ["qplane-admins"]),
        IdpUser(
            "bob",
            PASSWORD,
            "acme-0002",
            "Bob@Acme.test",
            ["qplane-users", "physics"],
            amr=["pwd", "otp"],
            acr="urn:test:acr:mfa",
        ),
        IdpUser("nobody", PASSWORD, "acme-0003", "nobody@acme.test", ["sales"]),
        IdpUser("mallory", PASSWORD, "acme-0004", "mallory@evil.test", ["qplane-admins"]),
    ]


def globex_users() -> list[IdpUser]:
    return [IdpUser("gina", PASSWORD, "globex-0001", "gina@globex.test", ["qplane-users"])]


@pytest.fixture(scope="session")
def _idp_acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcTestProvider]:
    with OidcTestProvider.running(
        tmp_path_factory.mktemp("idp-acme"), [ACME_CLIENT], acme_users()
    ) as idp:
        yield idp


@pytest.fixture(scope="session")
def _idp_globex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcTestProvider]:
    with OidcTestProvider.running(
        tmp_path_factory.mktemp("idp-globex"), [GLOBEX_CLIENT], globex_users()
    ) as idp:
        yield idp


@pytest.fixture
def idp_acme(_idp_acme: OidcTestProvider) -> Iterator[OidcTestProvider]:
    yield _idp_acme
    _idp_acme.set_users(acme_users())


@pytest.fixture
def idp_globex(_idp_globex: OidcTestProvider) -> OidcTestProvider:
    return _idp_globex


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        insecure_oidc_http_issuers=True,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, "operator-password-1")
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(app_for(platform)) as test_client:
        yield test_client


@pytest.fixture
def browser(client: TestClient) -> Iterator[Browser]:
    agent = Browser(client, "http://testserver")
    yield agent
    agent.close()


def mfa_headers(platform: Platform, email: str) -> dict[str, str]:
    """Headers with a token right after an MFA login (IdP changes are privileged)."""
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login(email)
    assert found is not None
    pair = platform.sessions.start(found[0], amr=("pwd", "otp"), acr=MFA_ACR, with_refresh=False)
    return {"Authorization": f"Bearer {pair.access_token}"}


@dataclass
class Tenant:
    id: str
    name: str
    project_id: str
    admin_email: str


def make_tenant(client: TestClient, platform: Platform, name: str) -> Tenant:
    operator = mfa_headers(platform, OPERATOR_EMAIL)
    created = client.post("/v1/tenants", json={"name": name}, headers=operator)
    assert created.status_code == 201, created.text
    tenant_id = created.json()["id"]
    project = client.post(
        f"/v1/tenants/{tenant_id}/projects", json={"name": "physics"}, headers=operator
    )
    assert project.status_code == 201, project.text
    email = f"admin@{name}.test"
    user = client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": email, "password": "tenant-password-1", "roles": ["tenant_admin"]},
        headers=operator,
    )
    assert user.status_code == 201, user.text
    return Tenant(tenant_id, name, project.json()["id"], email)


def provider_body(
    tenant: Tenant, idp: OidcTestProvider, registration: IdpClient
) -> dict[str, object]:
    return {
        "name": "corp",
        "issuer": idp.issuer,
        "client_id": registration.client_id,
        "client_secret": registration.client_secret,
        "allowed_domains": [f"{tenant.name}.test"],
        "role_mappings": [
            {"claim": "groups", "value": "qplane-admins", "roles": ["tenant_admin", "member"]},
            {"claim": "groups", "value": "qplane-users", "roles": ["member"]},
        ],
        "project_mappings": [
            {"claim": "groups", "value": "physics", "project_id": tenant.project_id}
        ],
    }


def register(
    client: TestClient,
    platform: Platform,
    tenant: Tenant,
    idp: OidcTestProvider,
    registration: IdpClient,
) -> dict[str, object]:
    response = client.post(
        f"/v1/tenants/{tenant.id}/identity-providers",
        json=provider_body(tenant, idp, registration),
        headers=mfa_headers(platform, tenant.admin_email),
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture
def acme(client: TestClient, platform: Platform, idp_acme: OidcTestProvider) -> Tenant:
    tenant = make_tenant(client, platform, "acme")
    register(client, platform, tenant, idp_acme, ACME_CLIENT)
    return tenant


@pytest.fixture
def globex(client: TestClient, platform: Platform, idp_globex: OidcTestProvider) -> Tenant:
    tenant = make_tenant(client, platform, "globex")
    register(client, platform, tenant, idp_globex, GLOBEX_CLIENT)
    return tenant


def sso_audit(platform: Platform, tenant_id: str | None, outcome: Outcome) -> list[AuditEntry]:
    """The SSO login entries of one tenant's chain (or the platform chain) with *outcome*."""
    with platform.database.unit_of_work() as uow:
        if tenant_id is None:
            entries = list(uow.audit.entries("platform"))
        else:
            query = AuditQuery(log=tenant_id, action="auth.sso.login", outcome=outcome)
            entries = uow.audit.search(query, 200, None).items
    return [e for e in entries if e.action == "auth.sso.login" and e.outcome is outcome]
