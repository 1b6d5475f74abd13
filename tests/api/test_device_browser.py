"""The device verification page in a browser (RFC 8628 §3.3): sign in, confirm, approve or deny.

The browser is the ASGI test client (it keeps cookies); the device is the
same client polling the token endpoint, as `qplane login` does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qplane.bootstrap import Platform, build_platform
from qplane.config import Settings
from qplane.domain.audit import Outcome
from qplane.domain.ports import AuditQuery
from qplane.identity.stepup import MFA_ACR
from qplane.store.models_sessions import RefreshTokenRow
from tests.api.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, TenantCtx, enrol_totp
from tests.api.device_browser_support import confirm, csrf_of, decide, poll, start_grant

PASSWORD = "tenant-password-1"
HOSTILE = "\"'><script>alert(1)</script>"


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The API platform with a 1 s polling interval, so the tests need not wait 5 s."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        device_poll_interval_s=1,
    )
    built = build_platform(settings)
    built.tenancy.ensure_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    yield built
    built.close()


@pytest.fixture
def device(client: TestClient) -> TestClient:
    """The CLI's side: its own client (no browser cookies)."""
    return TestClient(client.app)


def _sign_in(browser: TestClient, user_code: str, email: str, code: str = "") -> Any:
    page = browser.get("/device", params={"user_code": user_code})
    assert page.status_code == 200, page.text
    form = {"csrf": csrf_of(page), "user_code": user_code, "email": email, "password": PASSWORD}
    return browser.post("/device/login", data=form | {"code": code}, follow_redirects=False)


def _signed_in(browser: TestClient, user_code: str, email: str, code: str = "") -> str:
    """Sign in and open the confirmation page; returns its CSRF token."""
    answer = _sign_in(browser, user_code, email, code)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/device/confirm"
    return csrf_of(confirm(browser))


def _denials(platform: Platform, tenant_id: str | None) -> list[str]:
    with platform.database.unit_of_work() as uow:
        if tenant_id is None:
            entries = list(uow.audit.entries("platform"))
        else:
            query = AuditQuery(log=tenant_id, outcome=Outcome.DENIED)
            entries = uow.audit.search(query, 200, None).items
    return [f"{e.action}: {e.detail}" for e in entries if e.outcome is Outcome.DENIED]


def test_password_sign_in_then_approve_gives_the_device_a_session(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    csrf = _signed_in(client, grant["user_code"], acme.email)
    assert poll(device, grant["device_code"])[1]["error"] == "authorization_pending"

    shown = confirm(client)  # what the person sees before deciding (a new CSRF token each time)
    assert grant["user_code"] in shown.text
    assert "qplane-cli" in shown.text
    assert acme.email in shown.text
    assert "expires" in shown.text
    done = decide(client, csrf_of(shown))

    assert done.status_code == 200, done.text
    assert "Approved" in done.text
    time.sleep(1.1)
    status, tokens = poll(device, grant["device_code"])
    assert status == 200, tokens
    claims = platform.verifier.verify(tokens["access_token"])
    assert claims.tenant == acme.tenant_id
    assert claims.amr == ("pwd",)
    assert claims.client_id == "qplane-cli"
    assert csrf  # the first confirmation's token was replaced by the second's


def test_the_browser_sign_in_keeps_no_session_of_its_own(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    """The login service minted a session for the password; the page ended it at once."""
    before = _live_refresh_tokens(platform, acme.tenant_id)
    grant = start_grant(device)
    _signed_in(client, grant["user_code"], acme.email)

    assert _live_refresh_tokens(platform, acme.tenant_id) == before
    with platform.database.unit_of_work() as uow:
        entries = uow.audit.search(AuditQuery(log=acme.tenant_id), 200, None).items
    assert any(e.action == "revocation.token" for e in entries)
    assert set(client.cookies.keys()) == {"qplane-device"}  # the browser holds no token


def test_password_and_totp_sign_in_carries_mfa_to_the_device(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    secret = enrol_totp(client, acme.admin_token).secret
    grant = start_grant(device)
    asked = _sign_in(client, grant["user_code"], acme.email)
    assert asked.status_code == 401
    assert "authenticator" in asked.text  # the page asks for the second factor, no session yet
    form = {
        "csrf": csrf_of(asked),
        "user_code": grant["user_code"],
        "email": acme.email,
        "password": PASSWORD,
        "code": pyotp.TOTP(secret).at(time.time() + 30),  # not the step enrolment used
    }
    signed = client.post("/device/login", data=form, follow_redirects=False)
    assert signed.status_code == 303, signed.text

    assert decide(client, csrf_of(confirm(client))).status_code == 200
    time.sleep(1.1)
    status, tokens = poll(device, grant["device_code"])
    assert status == 200, tokens
    claims = platform.verifier.verify(tokens["access_token"])
    assert claims.amr == ("pwd", "otp")
    assert claims.acr == MFA_ACR
    assert 0 < claims.auth_time <= claims.iat


def test_a_wrong_password_is_shown_on_the_page_and_audited(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    page = client.get("/device", params={"user_code": grant["user_code"]})
    form = {"csrf": csrf_of(page), "user_code": grant["user_code"], "email": acme.email}
    refused = client.post("/device/login", data=form | {"password": "wrong-password-1"})
    assert refused.status_code == 401
    assert "invalid email or password" in refused.text
    assert client.get("/device/confirm", follow_redirects=False).status_code == 303  # not in
    assert any(d.startswith("auth.login") for d in _denials(platform, None))


def test_deny_tells_the_device_access_denied(
    client: TestClient, device: TestClient, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    done = decide(client, _signed_in(client, grant["user_code"], acme.email), "deny")
    assert done.status_code == 200
    assert "Denied" in done.text
    assert poll(device, grant["device_code"])[1]["error"] == "access_denied"


def test_approval_is_refused_without_the_csrf_token(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    _signed_in(client, grant["user_code"], acme.email)
    missing = decide(client, None)
    assert missing.status_code == 403
    assert missing.headers["content-type"] == "application/problem+json"
    assert any("form token" in d for d in _denials(platform, None))
    assert poll(device, grant["device_code"])[1]["error"] == "authorization_pending"


def test_approval_is_refused_with_a_wrong_or_stale_csrf_token(
    client: TestClient, device: TestClient, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    stale = _signed_in(client, grant["user_code"], acme.email)
    current = csrf_of(confirm(client))  # showing the page again replaced the token
    assert decide(client, "x" * 43).status_code == 403
    assert decide(client, stale).status_code == 403
    assert decide(client, current).status_code == 200


def test_a_decision_cannot_be_replayed(
    client: TestClient, device: TestClient, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    csrf = _signed_in(client, grant["user_code"], acme.email)
    cookie = client.cookies.get("qplane-device")
    assert decide(client, csrf, "deny").status_code == 200
    client.cookies.set("qplane-device", str(cookie), path="/device")  # a copy kept by an attacker
    replayed = decide(client, csrf, "approve")
    assert replayed.status_code == 401  # the session was spent by the first decision
    assert poll(device, grant["device_code"])[1]["error"] == "access_denied"


def test_the_sign_in_forms_token_is_not_accepted_for_the_decision(
    client: TestClient, device: TestClient, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    page = client.get("/device", params={"user_code": grant["user_code"]})
    sign_in_token = csrf_of(page)
    form = {"csrf": sign_in_token, "user_code": grant["user_code"], "email": acme.email}
    client.post("/device/login", data=form | {"password": PASSWORD}, follow_redirects=False)
    assert decide(client, sign_in_token).status_code == 403  # single use: it was spent


def test_another_browser_cannot_use_the_session(
    client: TestClient, device: TestClient, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    csrf = _signed_in(client, grant["user_code"], acme.email)
    other = TestClient(client.app)  # the attacker knows the token but not the cookie
    assert decide(other, csrf).status_code == 401
    assert other.get("/device/confirm", follow_redirects=False).status_code == 401
    assert decide(client, csrf).status_code == 200


def test_approve_by_get_is_refused(client: TestClient, device: TestClient, acme: TenantCtx) -> None:
    grant = start_grant(device)
    csrf = _signed_in(client, grant["user_code"], acme.email)
    by_get = client.get("/device/decide", params={"decision": "approve", "csrf": csrf})
    assert by_get.status_code == 405
    shown = client.get("/device/confirm", follow_redirects=False)  # showing approves nothing
    assert shown.status_code == 200
    assert poll(device, grant["device_code"])[1]["error"] == "authorization_pending"


def test_a_cross_site_form_post_without_the_cookie_is_refused(
    device: TestClient, client: TestClient
) -> None:
    """What a hostile page could send: no session cookie (SameSite) and no valid token."""
    forged = device.post(
        "/device/login",
        data={"csrf": "x", "user_code": "BCDF-GHJK", "email": "a@b.c", "password": "p"},
    )
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("/unauthenticated")


def test_a_hostile_user_code_is_escaped(client: TestClient) -> None:
    page = client.get("/device", params={"user_code": HOSTILE})
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&quot;&#x27;&gt;" in page.text  # the attribute cannot be closed either


def test_pages_forbid_scripts_framing_and_caching(client: TestClient) -> None:
    page = client.get("/device", params={"user_code": "BCDF-GHJK"})
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("qplane-device=")
    for attribute in ("HttpOnly", "Path=/device", "SameSite=lax", "Max-Age=600"):
        assert attribute in cookie


def test_an_unknown_tenant_and_a_tenant_without_sso_look_alike(
    client: TestClient, acme: TenantCtx
) -> None:
    unknown = client.get("/device", params={"user_code": "BCDF-GHJK", "tenant": "no-such"})
    no_sso = client.get("/device", params={"user_code": "BCDF-GHJK", "tenant": "acme"})
    assert unknown.status_code == no_sso.status_code == 404
    assert "single sign-on is not configured for this tenant" in unknown.text
    # the pages differ only in their fresh CSRF tokens
    assert _without_csrf(unknown.text) == _without_csrf(no_sso.text)


def test_a_wrong_user_code_counts_as_a_guess_after_sign_in(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    start_grant(device)
    answer = _sign_in(client, "BBBB-BBBB", acme.email)
    assert answer.status_code == 303
    shown = client.get("/device/confirm", follow_redirects=False)
    assert shown.status_code == 404
    assert "no pending device login has this code" in shown.text


def test_a_principal_revoked_after_sign_in_cannot_approve(
    client: TestClient, device: TestClient, platform: Platform, acme: TenantCtx
) -> None:
    grant = start_grant(device)
    csrf = _signed_in(client, grant["user_code"], acme.email)
    with platform.database.unit_of_work() as uow:
        found = uow.principals.for_login(acme.email)
    assert found is not None
    platform.revocations.revoke_principal(None, found[0].id)
    assert decide(client, csrf).status_code == 401
    assert poll(device, grant["device_code"])[1]["error"] == "authorization_pending"


def _live_refresh_tokens(platform: Platform, tenant_id: str) -> int:
    query = select(func.count()).where(
        RefreshTokenRow.tenant_id == tenant_id, RefreshTokenRow.revoked_at.is_(None)
    )
    with platform.database.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _without_csrf(text: str) -> str:
    return re.sub(r"name='csrf' value='[^']+'", "", text)
