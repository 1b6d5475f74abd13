"""SAML SSO end to end: a real qplane server on loopback, a pysaml2 IdP, a browser-like client.

The client follows what a browser does: it asks qplane for the login, carries
the signed AuthnRequest to the IdP, and posts the IdP's signed response back
to the tenant's ACS over real HTTP.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import OPERATOR_EMAIL, Starter
from tests.identity.saml.conftest import mfa_token
from tests.identity.saml.idp import TestIdp, require_xmlsec

pytestmark = pytest.mark.e2e


def _tenant(http: httpx.Client, operator: dict[str, str], name: str) -> tuple[str, str]:
    tenant = http.post("/v1/tenants", json={"name": name}, headers=operator)
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    admin = f"admin@{name}.test"
    created = http.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": admin, "password": "tenant-password-1", "roles": ["tenant_admin"]},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return tenant_id, admin


def test_saml_login_over_loopback(start_platform: Starter, tmp_path: Path) -> None:
    require_xmlsec()
    embedded = start_platform(workers=0)
    platform = embedded.platform
    assert platform is not None
    idp = TestIdp("https://idp.acme.test", tmp_path / "idp")
    with httpx.Client(base_url=embedded.url, timeout=30) as http:
        operator = {"Authorization": f"Bearer {mfa_token(platform, OPERATOR_EMAIL)}"}
        tenant_id, admin = _tenant(http, operator, "acme")
        registered = http.post(
            f"/v1/tenants/{tenant_id}/saml-providers",
            json={
                "metadata_xml": idp.metadata,
                "allowed_domains": ["acme.test"],
                "role_mappings": [
                    {"attribute": "groups", "value": "quantum-users", "role": "member"}
                ],
            },
            headers={"Authorization": f"Bearer {mfa_token(platform, admin)}"},
        )
        assert registered.status_code == 201, registered.text
        sp_metadata = http.get("/v1/saml/acme/metadata").text

        login = http.get("/v1/saml/acme/login", follow_redirects=False)
        assert login.status_code == 302
        request = idp.read_request(login.headers["location"], sp_metadata)
        assert request.acs_url == f"{embedded.url}/v1/saml/acme/acs"
        form = {
            "SAMLResponse": idp.respond(request, sp_metadata),
            "RelayState": request.relay_state,
        }

        accepted = http.post("/v1/saml/acme/acs", data=form)
        assert accepted.status_code == 200, accepted.text
        token = accepted.json()["access_token"]
        me = http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["tenant_id"] == tenant_id
        assert me.json()["roles"] == ["member"]

        assert http.post("/v1/saml/acme/acs", data=form).status_code == 401  # replay
