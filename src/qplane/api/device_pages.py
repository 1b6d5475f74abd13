"""The HTML of the device verification page (RFC 8628 §3.3).

Plain server-rendered pages, no script: every value that reaches the markup
— the user code from the URL above all, but also emails, client ids and
URLs — goes through `html.escape` (quotes included), and the responses
carry `qplane.api.browser.PAGE_HEADERS` (a CSP that loads nothing and lets
forms post only to this server, no framing, no caching, no Referer).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse

from qplane.api.browser import PAGE_HEADERS
from qplane.identity.device_verification import Confirmation, Decision

_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
    "fieldset{margin:1rem 0;padding:1rem;border:1px solid #ccc;border-radius:6px}"
    "label{display:block;margin:.5rem 0}input{width:100%;padding:.4rem;box-sizing:border-box}"
    "button{padding:.5rem 1.2rem;margin-right:.5rem}.code{font-size:1.6rem;letter-spacing:.2rem}"
    ".error{color:#a00}"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, status: int = 200, *, head: str = "") -> HTMLResponse:
    """A complete page with the device flow's security headers (*head*: trusted markup)."""
    markup = (
        f"<!doctype html><html lang='en'><head>{head}<meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(title)} · qplane</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(markup, status_code=status, headers=PAGE_HEADERS)


def _message(text: str | None) -> str:
    return f"<p class='error' role='alert'>{_e(text)}</p>" if text else ""


def sign_in(
    user_code: str, csrf: str, *, message: str | None = None, status: int = 200
) -> HTMLResponse:
    """Sign in to approve *user_code*: the organisation's SSO, or a local account."""
    code = _e(user_code)
    body = (
        _message(message)
        + "<p>Sign in to approve the login of a device (for example the qplane CLI).</p>"
        "<form method='get' action='/device/sso'><fieldset><legend>Your organisation's "
        "single sign-on</legend>"
        f"<label>Code shown by your terminal <input name='user_code' value='{code}' required "
        "autocomplete='off'></label>"
        "<label>Organisation (tenant name) <input name='tenant' required maxlength='63' "
        "autocomplete='organization'></label>"
        "<button type='submit'>Continue</button></fieldset></form>"
        "<form method='post' action='/device/login'><fieldset><legend>qplane account</legend>"
        f"<input type='hidden' name='csrf' value='{_e(csrf)}'>"
        f"<label>Code shown by your terminal <input name='user_code' value='{code}' required "
        "autocomplete='off'></label>"
        "<label>Email <input name='email' type='email' required autocomplete='username'></label>"
        "<label>Password <input name='password' type='password' required "
        "autocomplete='current-password'></label>"
        "<label>Authenticator or recovery code (if your account uses one) <input name='code' "
        "autocomplete='one-time-code'></label>"
        "<button type='submit'>Sign in</button></fieldset></form>"
    )
    return page("Approve a device login", body, status)


def continue_to(url: str) -> HTMLResponse:
    """The step from the sign-in form to the IdP: a new navigation, not a form redirect.

    A redirect answering a form submission would be held to the form's
    ``form-action 'self'`` by browsers; a refresh (or the link) is a fresh
    navigation, so the page can keep that strict CSP without naming IdPs.
    """
    target = _e(url)
    host = _e(urlsplit(url).netloc)
    body = (
        f"<p>Continuing to your organisation's sign-in at <strong>{host}</strong>…</p>"
        f"<p><a href='{target}'>Continue</a></p>"
    )
    return page("Sign in", body, head=f"<meta http-equiv='refresh' content='0;url={target}'>")


def confirm(confirmation: Confirmation) -> HTMLResponse:
    """What is being approved, and the two buttons; the form carries the single-use CSRF token."""
    c = confirmation
    body = (
        "<p>A device asks to log in to qplane <strong>as you</strong>. Approve only if you "
        "started this login and your terminal shows this code:</p>"
        f"<p class='code'><strong>{_e(c.user_code)}</strong></p><dl>"
        f"<dt>Account</dt><dd>{_e(c.account)}</dd>"
        f"<dt>Client</dt><dd>{_e(c.client_id)}</dd>"
        f"<dt>Code expires</dt><dd>{_e(_when(c.expires_at))}</dd></dl>"
        "<form method='post' action='/device/decide'>"
        f"<input type='hidden' name='csrf' value='{_e(c.csrf)}'>"
        "<button type='submit' name='decision' value='approve'>Approve</button>"
        "<button type='submit' name='decision' value='deny'>Deny</button></form>"
    )
    return page("Approve this device?", body)


def decided(decision: Decision) -> HTMLResponse:
    if decision.approved:
        text = "Approved. Return to your terminal: it is now logged in. You can close this page."
        return page("Device approved", f"<p>{_e(text)}</p>")
    text = f"Denied: the device that showed {decision.user_code} will not be logged in."
    return page("Device denied", f"<p>{_e(text)}</p>")


def problem(title: str, detail: str, status: int) -> HTMLResponse:
    """An error the person can act on, with a way to start again."""
    body = _message(detail) + "<p><a href='/device'>Start again</a></p>"
    return page(title, body, status)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
