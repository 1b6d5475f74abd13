"""Login CSRF for SAML (the ACS accepts only the starting browser), hidden tenants, the device page.

The IdP is pysaml2's own; the browser is the ASGI test client, which keeps
cookies like a browser (over plain http, and over https for ``__Host-``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qplane.api.app import create_app
from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.domain.audit import Outcome
from qplane.domain.ports import AuditQuery
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, TenantCtx
from tests.api.device_browser_support import confirm, csrf_of, decide, poll, start_grant
from tests.identity.saml.conftest import SamlTenant, make_tenant, register
from tests.identity.saml.idp import TestIdp

COOKIE = "qplane-saml"


def _denials(platform: Platform, tenant_id: str) -> list[str]:
    query = AuditQuery(log=tenant_id, action="auth.saml", outcome=Outcome.DENIED)
    with platform.database.unit_of_work() as uow:
        return [entry.detail or "" for entry in uow.audit.search(query, 100, None).items]


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert "access_token" not in response.text


def test_an_acs_post_without_the_binding_cookie_is_refused(
    platform: Platform, saml_acme: SamlTenant
) -> None:
    request = saml_acme.start()
    saml_response = saml_acme.idp.respond(request, saml_acme.sp_metadata)
    saml_acme.client.cookies.clear()

    _refused(saml_acme.post(saml_response, request.relay_state), "cookie missing")

    assert any("cookie missing" in d for d in _denials(platform, saml_acme.tenant.tenant_id))
    with platform.database.unit_of_work() as uow:
        assert uow.principals.for_login("alice@acme.test") is None


def test_a_victim_cannot_be_made_to_finish_the_attackers_login(
    client: TestClient, platform: Platform, saml_acme: SamlTenant
) -> None:
    attacker = SamlTenant(
        TestClient(client.app), saml_acme.tenant, "acme", saml_acme.idp, saml_acme.provider_id
    )
    planted_request = attacker.start()
    planted = attacker.idp.respond(planted_request, attacker.sp_metadata)
    saml_acme.start()  # the victim's own login is under way: its own cookie

    _refused(saml_acme.post(planted, planted_request.relay_state), "belongs to another login")
    _refused(attacker.post(planted, planted_request.relay_state), "unknown, used or expired")


def test_the_cookie_is_httponly_short_lived_path_scoped_and_cleared_after_use(
    saml_acme: SamlTenant,
) -> None:
    started = saml_acme.client.get("/v1/saml/acme/login", follow_redirects=False)
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    for attribute in ("HttpOnly", "Max-Age=600", "Path=/v1/saml/acme", "SameSite=lax"):
        assert attribute in cookie, cookie
    request = saml_acme.idp.read_request(started.headers["location"], saml_acme.sp_metadata)

    done = saml_acme.post(
        saml_acme.idp.respond(request, saml_acme.sp_metadata), request.relay_state
    )

    assert done.status_code == 200, done.text
    assert "Max-Age=0" in done.headers["set-cookie"]
    assert COOKIE not in saml_acme.client.cookies


def test_login_metadata_and_acs_do_not_tell_whether_a_tenant_exists(
    client: TestClient, saml_acme: SamlTenant, globex: TenantCtx
) -> None:
    """globex exists without a SAML IdP; nobody does not exist at all."""
    logins = [
        client.get("/v1/saml/nobody/login", follow_redirects=False),
        client.get("/v1/saml/globex/login", follow_redirects=False),
        client.get("/v1/saml/acme/login?provider=sip_nope", follow_redirects=False),
    ]
    metadata = [client.get(f"/v1/saml/{name}/metadata") for name in ("nobody", "globex")]
    form = {"SAMLResponse": "PHNhbWw+", "RelayState": "r" * 43}
    acs = [client.post(f"/v1/saml/{name}/acs", data=form) for name in ("nobody", "globex")]

    for group, status in ((logins, 404), (metadata, 404), (acs, 401)):
        assert {answer.status_code for answer in group} == {status}
        shapes = {(a.json()["type"], a.json()["title"], a.json()["detail"]) for a in group}
        assert len(shapes) == 1, shapes


def test_the_device_page_signs_in_through_the_tenants_saml_idp(
    client: TestClient, platform: Platform, saml_acme: SamlTenant
) -> None:
    device = TestClient(client.app)
    grant = start_grant(device)
    started = client.get(
        "/device",
        params={"user_code": grant["user_code"], "tenant": "acme"},
        follow_redirects=False,
    )
    assert started.status_code == 302, started.text
    request = saml_acme.idp.read_request(started.headers["location"], saml_acme.sp_metadata)
    answered = client.post(
        "/v1/saml/acme/acs",
        data={
            "SAMLResponse": saml_acme.idp.respond(request, saml_acme.sp_metadata),
            "RelayState": request.relay_state,
        },
        follow_redirects=False,
    )
    assert answered.status_code == 303, answered.text
    assert answered.headers["location"] == "/device/confirm"
    assert "access_token" not in answered.text

    shown = confirm(client)
    assert "alice@acme.test" in shown.text
    assert decide(client, csrf_of(shown)).status_code == 200
    status, tokens = poll(device, grant["device_code"])
    assert status == 200, tokens
    claims = platform.verifier.verify(tokens["access_token"])
    assert claims.tenant == saml_acme.tenant.tenant_id
    assert claims.amr == ("pwd",)


@pytest.fixture
def https_platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """A platform whose public URL is https."""
    settings = Settings(
        data_dir=tmp_path / "https-data", database_url=database_url, public_url="https://testserver"
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def https_client(https_platform: Platform) -> Iterator[TestClient]:
    """A browser reaching that platform over https (so it sends ``Secure`` cookies back)."""
    app = create_app(https_platform, run_sweeper=False)
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def test_over_https_the_cookie_is_host_prefixed_secure_and_samesite_none(
    https_client: TestClient, https_platform: Platform, tmp_path: Path, xmlsec: str
) -> None:
    tenant = make_tenant(https_client, https_platform, "acme")
    idp = TestIdp("https://idp.acme.test", tmp_path / "idp-https")
    saml = register(https_client, https_platform, tenant, "acme", idp)

    started = https_client.get("/v1/saml/acme/login", follow_redirects=False)
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("__Host-qplane-saml=")
    for attribute in ("HttpOnly", "Secure", "Path=/;", "SameSite=none"):
        assert attribute in cookie, cookie
    assert "Domain" not in cookie
    request = idp.read_request(started.headers["location"], saml.sp_metadata)
    done = saml.post(idp.respond(request, saml.sp_metadata), request.relay_state)
    assert done.status_code == 200, done.text
