"""`qplane login --sso` end to end: the CLI polls, a browser signs in at the IdP and approves.

Everything runs for real on loopback: the qplane server, the node OpenID
provider (or pysaml2's IdP for SAML), the CLI command polling the token
endpoint. The browser is one httpx client with one cookie jar that follows
redirects, across qplane and the IdP, the way a browser does.
"""

from __future__ import annotations

import json
import re
import stat
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import select
from typer.testing import Result

from qplane.embedded import EmbeddedPlatform
from qplane.sdk import QplaneClient
from qplane.sdk.errors import QplaneAPIError
from qplane.store.models_mfa_device import DeviceAuthorizationRow
from tests.api.device_browser_support import csrf_of
from tests.cli.cli_harness import Cli
from tests.e2e.conftest import OPERATOR_EMAIL, Starter
from tests.e2e.test_oidc_login_e2e import _mfa_client
from tests.identity.saml.conftest import mfa_token
from tests.identity.saml.idp import TestIdp, require_xmlsec
from tests.idp.harness import IdpClient, IdpUser, OidcTestProvider

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "idp-password-1"
_IDP_FORM = re.compile(r'<form method="post" action="([^"]+)"')


def _pending_user_code(embedded: EmbeddedPlatform, deadline_s: float = 20.0) -> str:
    """The user code the CLI is showing (read where the server keeps it)."""
    assert embedded.platform is not None
    query = select(DeviceAuthorizationRow.user_code).where(
        DeviceAuthorizationRow.status == "pending"
    )
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with embedded.platform.database.engine.connect() as conn:
            codes = conn.execute(query).scalars().all()
        if codes:
            return str(codes[-1])
        time.sleep(0.1)
    raise AssertionError("the CLI never started a device login")


def _through_the_idp(browser: httpx.Client, page: httpx.Response, qplane: str) -> httpx.Response:
    """Fill the IdP's login and consent forms until the browser is back at qplane."""
    for _ in range(10):
        if str(page.url).startswith(qplane):
            return page
        assert page.status_code == 200, (page.url, page.text[:300])
        action = _IDP_FORM.search(page.text)
        assert action is not None, page.text[:300]
        form = {"login": "dana", "password": PASSWORD} if 'name="login"' in page.text else {}
        page = browser.post(urljoin(str(page.url), action.group(1)), data=form)
    raise AssertionError("the browser never came back from the IdP")


def _in_background(cli: Cli, *args: str) -> tuple[threading.Thread, list[Result]]:
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(cli(*args)), daemon=True)
    thread.start()
    return thread, results


def test_qplane_login_sso_gets_tokens_only_after_the_browser_approves(
    start_platform: Starter, tmp_path: Path
) -> None:
    embedded = start_platform(workers=0, insecure_oidc_http_issuers=True, device_poll_interval_s=1)
    registration = IdpClient(
        "qplane-e2e", "e2e-client-secret-0123456789", embedded.url + "/v1/sso/callback"
    )
    dana = IdpUser("dana", PASSWORD, "e2e-0001", "dana@acme.test", ["qplane-users"], ["pwd", "otp"])
    with OidcTestProvider.running(tmp_path / "idp", [registration], [dana]) as idp:
        operator = _mfa_client(embedded, OPERATOR_EMAIL)
        tenant = operator.create_tenant("acme")
        operator.create_user(tenant["id"], "admin@acme.test", "tenant-password-1", ["tenant_admin"])
        _mfa_client(embedded, "admin@acme.test").add_identity_provider(
            tenant["id"],
            {
                "name": "corp",
                "issuer": idp.issuer,
                "client_id": registration.client_id,
                "client_secret": registration.client_secret,
                "allowed_domains": ["acme.test"],
                "role_mappings": [{"value": "qplane-users", "roles": ["member"]}],
            },
        )
        cli = Cli(tmp_path / "cli")
        stored = tmp_path / "cli" / "credentials.json"
        waiting, results = _in_background(
            cli, "login", "--sso", "acme", "--url", embedded.url, "--insecure-http"
        )
        user_code = _pending_user_code(embedded)

        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            opened = browser.get(
                embedded.url + "/device", params={"user_code": user_code, "tenant": "acme"}
            )
            shown = _through_the_idp(browser, opened, embedded.url)
            assert shown.url.path == "/device/confirm", shown.text[:300]
            assert "dana@acme.test" in shown.text
            time.sleep(2.5)  # the CLI has polled meanwhile, and got nothing
            assert waiting.is_alive()
            assert not stored.exists()
            done = browser.post(
                embedded.url + "/device/decide",
                data={"csrf": csrf_of(shown), "decision": "approve"},
            )
            assert done.status_code == 200, done.text

        waiting.join(timeout=30)
    assert results, "the CLI did not finish after the approval"
    result = results[0]
    assert result.exit_code == 0, result.output
    assert f"/device?user_code={user_code[:4]}-{user_code[4:]}&tenant=acme" in result.stdout
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    saved = json.loads(stored.read_text())
    assert saved["refresh_token"]
    with QplaneClient(embedded.url, saved["token"]) as user:
        me = user.whoami()
    assert me["tenant_id"] == tenant["id"]
    assert embedded.platform is not None
    claims = embedded.platform.verifier.verify(saved["token"])
    assert claims.amr == ("pwd", "otp")  # as the IdP authenticated dana


def test_a_saml_tenant_approves_a_device_in_the_browser(
    start_platform: Starter, tmp_path: Path
) -> None:
    require_xmlsec()
    embedded = start_platform(workers=0, device_poll_interval_s=1)
    platform = embedded.platform
    assert platform is not None
    idp = TestIdp("https://idp.acme.test", tmp_path / "idp")
    with httpx.Client(base_url=embedded.url, timeout=30) as http:
        operator = {"Authorization": f"Bearer {mfa_token(platform, OPERATOR_EMAIL)}"}
        tenant_id = http.post("/v1/tenants", json={"name": "acme"}, headers=operator).json()["id"]
        admin = {"email": "admin@acme.test", "password": "tenant-password-1"}
        http.post(
            f"/v1/tenants/{tenant_id}/users",
            json=admin | {"roles": ["tenant_admin"]},
            headers=operator,
        ).raise_for_status()
        http.post(
            f"/v1/tenants/{tenant_id}/saml-providers",
            json={
                "metadata_xml": idp.metadata,
                "allowed_domains": ["acme.test"],
                "role_mappings": [
                    {"attribute": "groups", "value": "quantum-users", "role": "member"}
                ],
            },
            headers={"Authorization": f"Bearer {mfa_token(platform, admin['email'])}"},
        ).raise_for_status()
        sp_metadata = http.get("/v1/saml/acme/metadata").text

    with QplaneClient(embedded.url) as device, httpx.Client(timeout=30) as browser:
        grant = device.start_device_login()
        started = browser.get(
            embedded.url + "/device", params={"user_code": grant["user_code"], "tenant": "acme"}
        )
        assert started.status_code == 302, started.text  # to the IdP, which is not on HTTP here
        request = idp.read_request(started.headers["location"], sp_metadata)
        shown = browser.post(
            request.acs_url,
            data={
                "SAMLResponse": idp.respond(request, sp_metadata),
                "RelayState": request.relay_state,
            },
            follow_redirects=True,
        )
        assert shown.url.path == "/device/confirm", shown.text[:300]
        with pytest.raises(QplaneAPIError) as pending:
            device.poll_device_login(str(grant["device_code"]))
        assert pending.value.oauth_error == "authorization_pending"
        done = browser.post(
            embedded.url + "/device/decide", data={"csrf": csrf_of(shown), "decision": "approve"}
        )
        assert done.status_code == 200, done.text
        time.sleep(1.1)
        device.poll_device_login(str(grant["device_code"]))
        assert device.whoami()["tenant_id"] == tenant_id
