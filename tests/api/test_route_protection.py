"""Every route needs a token unless it is on the short public list."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qplane.domain import ids

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/token"),  # the refresh token (or other grant) is the credential
    ("POST", "/internal/v1/token"),  # a worker's signed assertion is its credential
    ("POST", "/v1/oauth/token-exchange"),  # RFC 8693: the workload's OIDC token is the credential
    ("GET", "/v1/saml/{tenant_name}/metadata"),  # SAML: public SP metadata for the IdP
    ("GET", "/v1/saml/{tenant_name}/login"),  # SAML: the browser has no token yet
    ("POST", "/v1/saml/{tenant_name}/acs"),  # SAML: the IdP-signed assertion is the credential
    ("GET", "/v1/sso/{tenant_name}/login"),  # OIDC: the browser has no token yet
    ("GET", "/v1/sso/callback"),  # OIDC: the single-use server-side state is the credential
    ("POST", "/v1/auth/mfa"),  # second login step: the mfa_token plus a code are the credential
    ("POST", "/v1/oauth/device_authorization"),  # RFC 8628: the device has no token yet
    ("POST", "/v1/oauth/token"),  # RFC 8628 polling: the device code is the credential
    ("GET", "/device"),  # RFC 8628 verification page: instructions only, approving needs a token
}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the app publishes, read from its own OpenAPI document."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_non_public_route_refuses_a_request_without_a_token(client: TestClient) -> None:
    routes = _routes(client)
    assert len(routes) > 15
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        concrete = re.sub(r"\{[^}]+\}", ids.new_id(ids.JOB), path)
        response = client.request(method, concrete, json={})
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_public_list_names_only_real_routes(client: TestClient) -> None:
    assert set(_routes(client)) >= PUBLIC
