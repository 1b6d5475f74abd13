"""A real platform behind the ASGI app, and real pysaml2 IdPs started by the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qplane.bootstrap import Platform
from qplane.identity.stepup import MFA_ACR
from tests.api import conftest as api_fixtures
from tests.api.conftest import OPERATOR_EMAIL, TenantCtx
from tests.identity.saml.idp import AuthnRequest, TestIdp, require_xmlsec

# The API tests' real platform and ASGI client, shared (pytest finds fixtures by module name).
platform = api_fixtures.platform
client = api_fixtures.client


def mfa_token(platform: Platform, email: str) -> str:
    """A token right after an MFA login (operator and IdP changes need step-up)."""
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login(email)
    assert found is not None
    return platform.sessions.start(found[0], amr=("pwd", "otp"), acr=MFA_ACR).access_token


def mfa_headers(platform: Platform, tenant: TenantCtx) -> dict[str, str]:
    return {"Authorization": f"Bearer {mfa_token(platform, tenant.email)}"}


def make_tenant(client: TestClient, platform: Platform, name: str) -> TenantCtx:
    operator = {"Authorization": f"Bearer {mfa_token(platform, OPERATOR_EMAIL)}"}
    tenant = client.post("/v1/tenants", json={"name": name}, headers=operator)
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    project = client.post(
        f"/v1/tenants/{tenant_id}/projects", json={"name": "main"}, headers=operator
    )
    assert project.status_code == 201, project.text
    email = f"admin@{name}.test"
    created = client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": email, "password": "tenant-password-1", "roles": ["tenant_admin"]},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return TenantCtx(tenant_id, project.json()["id"], mfa_token(platform, email), email)


@pytest.fixture
def acme(client: TestClient, platform: Platform) -> TenantCtx:
    return make_tenant(client, platform, "acme")


@pytest.fixture
def globex(client: TestClient, platform: Platform) -> TenantCtx:
    return make_tenant(client, platform, "globex")


@dataclass
class SamlTenant:
    """A tenant with a registered IdP, and the way a browser would walk the login."""

    client: TestClient
    tenant: TenantCtx
    name: str
    idp: TestIdp
    provider_id: str

    @property
    def sp_metadata(self) -> str:
        response = self.client.get(f"/v1/saml/{self.name}/metadata")
        assert response.status_code == 200, response.text
        return response.text

    @property
    def acs(self) -> str:
        return f"/v1/saml/{self.name}/acs"

    def start(self) -> AuthnRequest:
        response = self.client.get(f"/v1/saml/{self.name}/login", follow_redirects=False)
        assert response.status_code == 302, response.text
        return self.idp.read_request(response.headers["location"], self.sp_metadata)

    def post(self, saml_response: str, relay_state: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            self.acs, data={"SAMLResponse": saml_response, "RelayState": relay_state}
        )


def register(
    client: TestClient, platform: Platform, tenant: TenantCtx, name: str, idp: TestIdp
) -> SamlTenant:
    body = {
        "metadata_xml": idp.metadata,
        "allowed_domains": [f"{name}.test"],
        "role_mappings": [
            {"attribute": "groups", "value": "quantum-users", "role": "member"},
            {"attribute": "groups", "value": "quantum-admins", "role": "tenant_admin"},
        ],
        "project_mappings": [
            {"attribute": "groups", "value": "quantum-users", "project_id": tenant.project_id}
        ],
    }
    response = client.post(
        f"/v1/tenants/{tenant.tenant_id}/saml-providers",
        json=body,
        headers=mfa_headers(platform, tenant),
    )
    assert response.status_code == 201, response.text
    return SamlTenant(client, tenant, name, idp, response.json()["id"])


@pytest.fixture
def xmlsec() -> str:
    return require_xmlsec()


@pytest.fixture
def idp_a(tmp_path: Path, xmlsec: str) -> TestIdp:
    return TestIdp("https://idp.acme.test", tmp_path / "idp-a")


@pytest.fixture
def idp_b(tmp_path: Path, xmlsec: str) -> TestIdp:
    return TestIdp("https://idp.globex.test", tmp_path / "idp-b")


@pytest.fixture
def saml_acme(
    client: TestClient, platform: Platform, acme: TenantCtx, idp_a: TestIdp
) -> SamlTenant:
    return register(client, platform, acme, "acme", idp_a)


@pytest.fixture
def saml_globex(
    client: TestClient, platform: Platform, globex: TenantCtx, idp_b: TestIdp
) -> SamlTenant:
    return register(client, platform, globex, "globex", idp_b)
