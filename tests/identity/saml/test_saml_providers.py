"""Registering SAML IdPs: tenant admins only, with a recent MFA, within their own tenant."""

from __future__ import annotations

import stat
import subprocess

from fastapi.testclient import TestClient
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore

from qplane.bootstrap import Platform
from tests.api.conftest import TenantCtx
from tests.identity.saml.conftest import SamlTenant, mfa_headers
from tests.identity.saml.idp import TestIdp


def _body(idp: TestIdp, domain: str = "acme.test") -> dict[str, object]:
    return {
        "metadata_xml": idp.metadata,
        "allowed_domains": [domain],
        "role_mappings": [{"attribute": "groups", "value": "q", "role": "member"}],
    }


def test_registering_an_idp_needs_a_recent_mfa(
    client: TestClient, acme: TenantCtx, idp_a: TestIdp
) -> None:
    password_only = client.post(
        "/v1/auth/login", json={"email": acme.email, "password": "tenant-password-1"}
    )
    headers = {"Authorization": f"Bearer {password_only.json()['access_token']}"}
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/saml-providers", json=_body(idp_a), headers=headers
    )
    assert response.status_code == 401, response.text
    assert "insufficient_user_authentication" in response.headers["www-authenticate"]


def test_another_tenants_admin_gets_not_found(
    client: TestClient, platform: Platform, saml_acme: SamlTenant, globex: TenantCtx, idp_b: TestIdp
) -> None:
    tid = saml_acme.tenant.tenant_id
    headers = mfa_headers(platform, globex)
    assert client.get(f"/v1/tenants/{tid}/saml-providers", headers=headers).status_code == 404
    posted = client.post(f"/v1/tenants/{tid}/saml-providers", json=_body(idp_b), headers=headers)
    assert posted.status_code == 404
    deleted = client.delete(
        f"/v1/tenants/{tid}/saml-providers/{saml_acme.provider_id}", headers=headers
    )
    assert deleted.status_code == 404


def test_role_mappings_cannot_grant_operator(
    client: TestClient, platform: Platform, acme: TenantCtx, idp_a: TestIdp
) -> None:
    body = _body(idp_a) | {"role_mappings": [{"attribute": "g", "value": "x", "role": "operator"}]}
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/saml-providers",
        json=body,
        headers=mfa_headers(platform, acme),
    )
    assert response.status_code == 422, response.text


def test_metadata_without_an_idp_is_refused(
    client: TestClient, platform: Platform, acme: TenantCtx, idp_a: TestIdp
) -> None:
    body = _body(idp_a) | {"metadata_xml": "<not-metadata/>"}
    response = client.post(
        f"/v1/tenants/{acme.tenant_id}/saml-providers",
        json=body,
        headers=mfa_headers(platform, acme),
    )
    assert response.status_code == 422, response.text


def test_list_and_delete(client: TestClient, platform: Platform, saml_acme: SamlTenant) -> None:
    tid, headers = saml_acme.tenant.tenant_id, mfa_headers(platform, saml_acme.tenant)
    listed = client.get(f"/v1/tenants/{tid}/saml-providers", headers=headers).json()
    assert [p["entity_id"] for p in listed] == [saml_acme.idp.entity_id]
    gone = client.delete(
        f"/v1/tenants/{tid}/saml-providers/{saml_acme.provider_id}", headers=headers
    )
    assert gone.status_code == 204
    assert client.get(f"/v1/tenants/{tid}/saml-providers", headers=headers).json() == []
    assert client.get("/v1/saml/acme/login", follow_redirects=False).status_code == 404


def test_sp_metadata_is_valid_and_signed(
    client: TestClient, platform: Platform, saml_acme: SamlTenant, xmlsec: str
) -> None:
    response = client.get("/v1/saml/acme/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    config = SPConfig()
    config.load({"entityid": "http://checker.test", "xmlsec_binary": xmlsec})
    store = MetadataStore(None, config)
    store.load("inline", response.text)
    entity = "http://testserver/v1/saml/acme/metadata"
    assert list(store.keys()) == [entity]
    acs = store.assertion_consumer_service(entity)
    assert [service["location"] for service in acs] == ["http://testserver/v1/saml/acme/acs"]
    key_dir = platform.settings.key_dir / "saml"
    assert stat.S_IMODE((key_dir / "sp-key.pem").stat().st_mode) == 0o600
    document = key_dir.parent / "metadata.xml"
    document.write_text(response.text)
    verified = subprocess.run(
        [
            xmlsec,
            "--verify",
            "--pubkey-cert-pem",
            str(key_dir / "sp-cert.pem"),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
            str(document),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_metadata_of_an_unknown_tenant_is_not_found(client: TestClient) -> None:
    assert client.get("/v1/saml/nobody/metadata").status_code == 404
