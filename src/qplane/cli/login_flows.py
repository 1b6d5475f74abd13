"""How the CLI logs in and re-authenticates: password (+ second factor), device grant, step-up.

* `qplane login --url URL` with no ``--email`` uses the OAuth 2.0 Device
  Authorization Grant (RFC 8628): it prints a short code and a URL, the user
  opens the URL in any browser, signs in there (SSO or a local account) and
  approves the code — or approves it from another logged-in CLI with
  ``qplane device approve CODE`` — and the CLI polls until the server
  issues the session. No password touches this machine.
* ``qplane login --sso TENANT`` (also ``qplane sso login TENANT``) is the
  same grant with ``tenant=`` added to the URL, so the browser goes straight
  to that tenant's single sign-on. Nothing is pasted back: the tokens come
  to the CLI by polling, exactly as for ``qplane login``.
* ``--email`` (with ``--password-stdin`` for scripts) logs in with a
  password; for an MFA account the CLI then asks for a TOTP or recovery
  code (with ``--password-stdin``: the next stdin line).
* When any command meets an RFC 9470 step-up challenge, `prompt_step_up`
  asks for a code, obtains a fresh MFA session, stores it and the command
  retries once.

Tokens (access and refresh) are stored through `credentials.save`: 0600 in
a 0700 directory, never printed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Annotated, Final
from urllib.parse import urlencode

import pyotp
import typer
from rich.text import Text

from qplane.cli import credentials
from qplane.cli.errors import one_line_errors, printable
from qplane.cli.session import UrlOption, console, credentials_file, open_client
from qplane.domain.tenancy import validate_slug
from qplane.sdk.client import JSON, QplaneClient
from qplane.sdk.errors import QplaneAPIError

SLOW_DOWN_STEP_S: Final = 5

mfa_app = typer.Typer(help="Your second factor (TOTP authenticator, recovery codes).")
device_app = typer.Typer(help="Approve or deny a `qplane login` waiting on another device.")


def read_code(from_stdin: bool) -> str:
    """A TOTP or recovery code: the next stdin line (scripts) or a hidden prompt."""
    if from_stdin:
        code = sys.stdin.readline().strip()
    else:
        code = typer.prompt("Authenticator code (or a recovery code)", hide_input=True).strip()
    if not code:
        raise ValueError("no second-factor code given")
    return code


def second_factor(code: str) -> dict[str, str]:
    """A 6-digit code is TOTP; anything else is taken as a recovery code."""
    compact = code.replace(" ", "")
    return {"totp": compact} if compact.isdigit() else {"recovery_code": code}


def password_login(
    client: QplaneClient, email: str, password: str, code: Callable[[], str]
) -> JSON:
    """Log in with a password, asking *code* for the second factor when the account has MFA."""
    try:
        return client.password_login(email, password)
    except QplaneAPIError as exc:
        if exc.mfa_token is None:
            raise
        return client.complete_mfa_login(exc.mfa_token, **second_factor(code()))


def enrol_totp_unattended(client: QplaneClient) -> str:
    """Enrol TOTP for *client*'s principal and confirm it with a code computed here.

    For throwaway principals created by the same program (the demo's and the
    benchmark's operators, tests): the secret never leaves this process, and
    the client ends up holding the stepped-up session. Returns the secret.
    """
    secret = str(client.enrol_totp()["secret"])
    client.confirm_totp(pyotp.TOTP(secret).now())
    return secret


def device_login(
    client: QplaneClient,
    show: Callable[[JSON], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> JSON:
    """RFC 8628 from the device side: start, show the code, poll politely until an answer."""
    started = client.start_device_login()
    show(started)
    interval = float(started.get("interval", 5))
    deadline = time.monotonic() + float(started.get("expires_in", 600))
    while time.monotonic() < deadline:
        sleep(interval)
        try:
            return client.poll_device_login(str(started["device_code"]))
        except QplaneAPIError as exc:
            if exc.oauth_error == "authorization_pending":
                continue
            if exc.oauth_error == "slow_down":
                interval += SLOW_DOWN_STEP_S
                continue
            if exc.oauth_error == "access_denied":
                raise ValueError("the login was denied on the approving device") from None
            if exc.oauth_error == "expired_token":
                break
            raise
    raise ValueError("the login code expired before it was approved; run `qplane login` again")


def verification_url(started: JSON, tenant: str | None = None, provider: str | None = None) -> str:
    """Where the browser goes: the server's complete verification URI (with the user code),
    plus ``tenant=`` (and ``provider=``) to go straight to that tenant's single sign-on."""
    url = str(started.get("verification_uri_complete") or started["verification_uri"])
    extra = {name: value for name, value in (("tenant", tenant), ("provider", provider)) if value}
    if extra:
        url += ("&" if "?" in url else "?") + urlencode(extra)
    return url


def show_device_code(started: JSON) -> None:
    code = printable(str(started["user_code"]))
    console().print(
        Text.assemble(
            "To log in, open ",
            (printable(verification_url(started)), "bold"),
            " in a browser, sign in and approve the code ",
            (code, "bold"),
            f"\n(or run `qplane device approve {code}` where you are logged in). "
            "Waiting for approval…",
        )
    )


def sso_device_code(tenant: str, provider: str | None) -> Callable[[JSON], None]:
    """How `qplane login --sso TENANT` shows the grant: a URL straight to the tenant's SSO."""
    validate_slug(tenant, "tenant")  # a typo fails here, not after minutes of polling

    def show(started: JSON) -> None:
        console().print(
            Text.assemble(
                "To log in, open ",
                (printable(verification_url(started, tenant, provider)), "bold"),
                " in a browser, sign in with your organisation and approve the code ",
                (printable(str(started["user_code"])), "bold"),
                ". Waiting for approval…",
            )
        )

    return show


def store_session(url: str, body: JSON, ca_file: str | None = None) -> None:
    """Keep the tokens in *body* for *url*, and the CA bundle its certificate is verified with."""
    refresh = body.get("refresh_token")
    credentials.save(
        credentials_file(),
        credentials.Credentials(
            url=url,
            token=str(body["access_token"]),
            refresh_token=str(refresh) if refresh else None,
            ca_file=ca_file,
        ),
    )


def prompt_step_up(client: QplaneClient, error: QplaneAPIError) -> bool:
    """The CLI's answer to an RFC 9470 challenge: ask for a code, step up, keep the session."""
    if not client.mfa_status().get("totp"):
        raise ValueError(
            "this action needs a recent second factor and your account has none: "
            "run `qplane mfa enrol` first"
        )
    typer.secho(
        f"{error.detail} — confirm with your second factor.", fg=typer.colors.YELLOW, err=True
    )
    try:
        code = read_code(False)
    except typer.Abort:  # no terminal to ask on: the refusal stands
        return False
    body = client.step_up(**second_factor(code))
    if not os.environ.get("QPLANE_TOKEN"):
        store_session(client.base_url, body, client.ca_file)
    return True


@mfa_app.command("enrol")
@one_line_errors
def mfa_enrol(
    code_stdin: Annotated[
        bool, typer.Option("--code-stdin", help="Read the confirming code from stdin.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Enrol a TOTP authenticator: shows the secret once, then asks for a code from it."""
    with open_client(url) as client:
        enrolment = client.enrol_totp()
        console().print("Add this to your authenticator app (shown once):")
        console().print(Text.assemble("  secret: ", (str(enrolment["secret"]), "bold")))
        console().print(Text("  uri:    " + str(enrolment["otpauth_uri"])))
        body = client.confirm_totp(read_code(code_stdin))
        if not os.environ.get("QPLANE_TOKEN"):
            store_session(client.base_url, body, client.ca_file)
    console().print("TOTP enabled. Recovery codes (each works once; store them offline):")
    for code in body["recovery_codes"]:
        console().print(Text("  " + str(code)))


@mfa_app.command("status")
@one_line_errors
def mfa_status(url: UrlOption = None) -> None:
    with open_client(url) as client:
        status = client.mfa_status()
    state = "on" if status.get("totp") else "off"
    console().print(f"TOTP: {state}; recovery codes left: {status.get('recovery_codes_left', 0)}")


@device_app.command("approve")
@one_line_errors
def device_approve(user_code: str, url: UrlOption = None) -> None:
    """Let the device showing USER_CODE log in as you (check the code matches first)."""
    with open_client(url) as client:
        client.approve_device(user_code)
    console().print(Text(f"approved {user_code}: that device is now logged in as you"))


@device_app.command("deny")
@one_line_errors
def device_deny(user_code: str, url: UrlOption = None) -> None:
    with open_client(url) as client:
        client.deny_device(user_code)
    console().print(Text(f"denied {user_code}"))


def register(app: typer.Typer) -> None:
    app.add_typer(mfa_app, name="mfa")
    app.add_typer(device_app, name="device")
