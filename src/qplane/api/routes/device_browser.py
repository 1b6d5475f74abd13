"""The device verification page in a browser (RFC 8628 §3.3): sign in, then approve or deny.

* ``GET /device?user_code=…`` — the sign-in page (organisation SSO or a
  local account); with ``&tenant=NAME`` it goes straight to that tenant's
  single sign-on. Opens the browser session (cookie, see `api.browser`).
* ``GET /device/sso?user_code=…&tenant=…`` — where the page's SSO form
  lands; it continues to the IdP by a fresh navigation (`device_pages.continue_to`).
* ``POST /device/login`` — email, password and, for MFA accounts, a code.
* ``GET /device/confirm`` — what is being approved; never approves anything.
* ``POST /device/decide`` — Approve or Deny, with the single-use CSRF token.

A missing or stale session cookie answers 401 and a missing or wrong CSRF
token 403, as problem+json, audited like every refusal; mistakes a person
can correct (wrong password, unknown tenant, wrong code) are shown on the
page. Every HTML answer carries `api.browser.PAGE_HEADERS`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from qplane.api import browser, device_pages
from qplane.api.deps import PlatformDep
from qplane.bootstrap import Platform
from qplane.domain.errors import NotFound, QplaneError, QuotaExceeded, ValidationFailed
from qplane.identity.browser_sessions import NotSignedIn, OpenedSession
from qplane.identity.mfa_login import MfaRequired

router = APIRouter(tags=["device"])

_FORM: Final = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES: Final = 16 * 1024
_MAX_FIELD: Final = 1024
_NEED_CODE: Final = "this account uses a second factor: enter your authenticator or recovery code"
UserCodeQuery = Query(default="", max_length=64)
TenantQuery = Query(default="", max_length=63)
ProviderQuery = Query(default=None, max_length=64)


@router.get("/device", response_class=HTMLResponse)
def verification_page(
    request: Request,
    qp: PlatformDep,
    user_code: str = UserCodeQuery,
    tenant: str = TenantQuery,
    provider: str | None = ProviderQuery,
) -> Response:
    """Where the CLI sends the user: sign in (straight to the tenant's SSO with ``tenant=``)."""
    opened = qp.device_pages.open(user_code)
    if tenant:
        return _start_sso(qp, opened, tenant, provider, via_form=False)
    return _with_session(qp, device_pages.sign_in(user_code, opened.csrf), opened)


@router.get("/device/sso", response_class=HTMLResponse)
def sso_from_form(
    qp: PlatformDep,
    user_code: str = UserCodeQuery,
    tenant: str = TenantQuery,
    provider: str | None = ProviderQuery,
) -> Response:
    """The sign-in page's SSO form: start the tenant's single sign-on for this browser."""
    opened = qp.device_pages.open(user_code)
    return _start_sso(qp, opened, tenant, provider, via_form=True)


@router.post("/device/login", response_class=HTMLResponse)
async def password_sign_in(request: Request, qp: PlatformDep) -> Response:
    """Sign in with a local account (the login services' limits and audit apply)."""
    form = await _form(request)
    cookie = browser.device_session(qp.settings)
    session, csrf = qp.device_pages.sessions.rotate_csrf(cookie.read(request), form.get("csrf"))
    user_code = form.get("user_code", "")
    try:
        qp.device_pages.sign_in_with_password(
            session,
            user_code=user_code,
            email=form.get("email", ""),
            password=form.get("password", ""),
            code=form.get("code", ""),
            request_id=request.state.request_id,
            source_ip=_source(request),
        )
    except MfaRequired:
        return device_pages.sign_in(user_code, csrf, message=_NEED_CODE, status=401)
    except QplaneError as refused:
        if refused.status >= 500:
            raise
        return device_pages.sign_in(user_code, csrf, message=refused.detail, status=refused.status)
    return RedirectResponse(browser.CONFIRM_PATH, status_code=303, headers=browser.PAGE_HEADERS)


@router.get("/device/confirm", response_class=HTMLResponse)
def confirm_page(request: Request, qp: PlatformDep) -> Response:
    """Show the code, client, expiry and account, with Approve and Deny (POST only)."""
    cookie = browser.device_session(qp.settings)
    try:
        confirmation = qp.device_pages.confirmation(
            cookie.read(request), request.state.request_id, _source(request)
        )
    except NotSignedIn:
        return RedirectResponse("/device", status_code=303, headers=browser.PAGE_HEADERS)
    except (NotFound, QuotaExceeded) as refused:
        return device_pages.problem("Cannot approve this code", refused.detail, refused.status)
    return device_pages.confirm(confirmation)


@router.post("/device/decide", response_class=HTMLResponse)
async def decide(request: Request, qp: PlatformDep) -> Response:
    """Approve or deny: spends the browser session, whatever the outcome."""
    form = await _form(request)
    decision = form.get("decision")
    if decision not in ("approve", "deny"):
        raise ValidationFailed("decision must be approve or deny", field="decision")
    cookie = browser.device_session(qp.settings)
    try:
        done = qp.device_pages.decide(
            cookie.read(request),
            form.get("csrf"),
            approve=decision == "approve",
            request_id=request.state.request_id,
            source_ip=_source(request),
        )
    except (NotFound, QuotaExceeded) as refused:
        answer = device_pages.problem("Cannot approve this code", refused.detail, refused.status)
    else:
        answer = device_pages.decided(done)
    cookie.clear(answer)
    return answer


def _start_sso(
    qp: Platform, opened: OpenedSession, tenant: str, provider: str | None, *, via_form: bool
) -> Response:
    try:
        started = qp.device_pages.begin_sso(opened, tenant, provider)
    except (NotFound, ValidationFailed) as refused:
        shown = device_pages.sign_in(
            opened.user_code, opened.csrf, message=refused.detail, status=refused.status
        )
        return _with_session(qp, shown, opened)
    if via_form:
        answer: Response = device_pages.continue_to(started.login.url)
    else:
        answer = RedirectResponse(started.login.url, status_code=302, headers=browser.PAGE_HEADERS)
    if started.protocol == "oidc":
        binding = browser.oidc_binding(qp.settings)
    else:
        binding = browser.saml_binding(qp.settings, started.tenant)
    binding.set(answer, started.login.binding)
    return _with_session(qp, answer, opened)


def _with_session(qp: Platform, response: Response, opened: OpenedSession) -> Response:
    browser.device_session(qp.settings).set(response, opened.secret)
    return response


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _form(request: Request) -> dict[str, str]:
    """An HTML form post: urlencoded, bounded, one value per field."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise ValidationFailed("expected an HTML form post")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ValidationFailed("form too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return {
        name: values[0]
        for name, values in fields.items()
        if len(values) == 1 and len(values[0]) <= _MAX_FIELD
    }
