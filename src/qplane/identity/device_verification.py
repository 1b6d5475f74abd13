"""The device verification page's use cases (RFC 8628 §3.3): sign in, check, approve or deny.

The CLI (`qplane login`) shows a user code and ``/device?user_code=…``. In a
browser the person then

1. signs in — with their tenant's single sign-on (OIDC or SAML, whichever
   the tenant has), or with a local email and password (plus a TOTP or
   recovery code when the account has MFA), through the same login
   services every other login uses;
2. sees what they are approving (the code, the client, the expiry, their
   account) and presses Approve or Deny — a POST carrying the session's
   single-use CSRF token, never a GET.

Security properties:

* Everything the page remembers lives in a `BrowserSessions` session bound
  to an HttpOnly cookie; SSO logins started here are bound to this browser
  as well (`browser_binding`).
* The user code is looked up only *after* sign-in, through
  `DeviceGrantService.describe`/`decide`, so wrong codes count against the
  approver's guess limit; nobody can probe codes without an account.
* The approval carries the browser sign-in's ``amr``/``acr``/``auth_time``
  to the device, exactly as an approval by a logged-in API client does.
* A password sign-in goes through `LoginService` (and `MfaLogin`), which
  mint a platform session; the page keeps only how the person signed in
  and ends that session at once (`RevocationService.logout`), so no token
  is ever held by the browser or the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from qplane.domain.browser import BrowserSession
from qplane.domain.errors import NotFound, ValidationFailed
from qplane.identity.authenticate import Authenticator
from qplane.identity.browser_binding import LoginStart
from qplane.identity.browser_sessions import BrowserSessions, OpenedSession
from qplane.identity.device import DeviceGrantService, format_user_code, normalise_user_code
from qplane.identity.login import PASSWORD_ACR, LoginService
from qplane.identity.mfa_login import MfaLogin, MfaRequired
from qplane.identity.oidc import OidcLoginService
from qplane.identity.revocation import RevocationService
from qplane.identity.saml import SamlLoginService
from qplane.identity.sessions import TokenPair

#: What an unknown tenant and a tenant without single sign-on both answer, word for word.
SSO_UNAVAILABLE: Final = "single sign-on is not configured for this tenant"
NEED_USER_CODE: Final = "enter the code your terminal shows"


@dataclass(frozen=True, slots=True)
class SsoStart:
    """Where the browser goes to sign in, and the cookie that binds that login to it."""

    protocol: Literal["oidc", "saml"]
    tenant: str
    login: LoginStart = field(repr=False)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the person must see before approving: code, client, expiry, their account."""

    user_code: str
    client_id: str
    expires_at: datetime
    account: str
    csrf: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Decision:
    user_code: str
    approved: bool


class DeviceVerification:
    def __init__(
        self,
        sessions: BrowserSessions,
        device: DeviceGrantService,
        *,
        login: LoginService,
        mfa_login: MfaLogin,
        authenticator: Authenticator,
        revocations: RevocationService,
        oidc: OidcLoginService,
        saml: SamlLoginService,
    ) -> None:
        self.sessions = sessions
        self._device = device
        self._login = login
        self._mfa_login = mfa_login
        self._authenticator = authenticator
        self._revocations = revocations
        self._oidc = oidc
        self._saml = saml

    def open(self, user_code: str) -> OpenedSession:
        """A new browser session for the page (cookie and first CSRF token)."""
        return self.sessions.open(user_code)

    def begin_sso(self, opened: OpenedSession, tenant: str, provider: str | None) -> SsoStart:
        """Start the tenant's SSO login for this browser session: OIDC if it has any, else SAML.

        Raises `NotFound(SSO_UNAVAILABLE)` alike for an unknown tenant and a
        tenant without single sign-on, `ValidationFailed` without a user code.
        """
        if not opened.user_code:
            raise ValidationFailed(NEED_USER_CODE, field="user_code")
        bound = opened.id_hash
        try:
            oidc = self._oidc.begin(tenant, provider, browser_session=bound)
            return SsoStart("oidc", tenant, oidc)
        except NotFound:
            pass
        try:
            saml = self._saml.begin(tenant, provider, browser_session=bound)
            return SsoStart("saml", tenant, saml)
        except NotFound:
            raise NotFound(SSO_UNAVAILABLE) from None

    def sign_in_with_password(
        self,
        session: BrowserSession,
        *,
        user_code: str,
        email: str,
        password: str,
        code: str,
        request_id: str | None,
        source_ip: str | None,
    ) -> None:
        """Sign *session* in with a local account; the login services' errors pass through.

        `MfaRequired` when the account has MFA and no *code* was given.
        """
        if not normalise_user_code(user_code):
            raise ValidationFailed(NEED_USER_CODE, field="user_code")
        pair = self._password_pair(email, password, code.strip(), request_id, source_ip)
        actor = self._authenticator.actor_for(pair.access_token, request_id, source_ip)
        self._revocations.logout(actor, pair.refresh_token)  # keep how, never a token
        self.sessions.record_sign_in(
            session.id_hash,
            actor.principal_id,
            actor.tenant_id,
            amr=actor.amr,
            acr=actor.acr or PASSWORD_ACR,
            auth_time=actor.auth_time,
            user_code=user_code,
        )

    def confirmation(
        self, secret: str | None, request_id: str | None, source_ip: str | None
    ) -> Confirmation:
        """The signed-in session's pending grant (wrong codes count) and a fresh CSRF token."""
        signed, csrf = self.sessions.confirmation(secret, request_id, source_ip)
        grant = self._device.describe(signed.actor, signed.user_code)
        return Confirmation(
            format_user_code(grant.user_code), grant.client_id, grant.expires_at, signed.email, csrf
        )

    def decide(
        self,
        secret: str | None,
        csrf: str | None,
        *,
        approve: bool,
        request_id: str | None,
        source_ip: str | None,
    ) -> Decision:
        """Approve or deny with the session's one decision; the session is spent either way."""
        signed = self.sessions.take(secret, csrf, request_id, source_ip)
        self._device.decide(signed.actor, signed.user_code, approve=approve)
        return Decision(format_user_code(signed.user_code), approve)

    def _password_pair(
        self,
        email: str,
        password: str,
        code: str,
        request_id: str | None,
        source_ip: str | None,
    ) -> TokenPair:
        try:
            return self._login.login(email, password, request_id=request_id, source_ip=source_ip)
        except MfaRequired as needed:
            if not code:
                raise
            token = str(needed.extensions["mfa_token"])
            totp, recovery = (code, None) if code.isdigit() else (None, code)
            return self._mfa_login.complete(
                token, totp=totp, recovery_code=recovery, request_id=request_id
            )
