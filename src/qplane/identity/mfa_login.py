"""The second step of a local login for accounts with MFA.

`LoginService` checks the password; for an enrolled account it does not
start a session but raises `MfaRequired` carrying an *MFA token*: a
5-minute signed token (our EdDSA key) whose audience is only
`mfa_audience` — no API route accepts it as an access token. The client
then posts it with a TOTP or recovery code to ``/v1/auth/mfa`` and
receives the session (``amr`` ``["pwd", "otp"]`` for TOTP, ``["pwd",
"mfa"]`` for a recovery code; ``acr`` `MFA_ACR`).

Security properties: the MFA token proves only the password; without a
valid, unreplayed second factor it yields nothing, and wrong codes count
towards the TOTP lock (`MfaService`). A disabled account is refused at
both steps.
"""

from __future__ import annotations

from typing import Final

from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import Principal
from qplane.identity.mfa import MfaService
from qplane.identity.sessions import SessionService, TokenPair
from qplane.identity.stepup import MFA_ACR
from qplane.identity.tokens import TokenIssuer, TokenVerifier

MFA_TOKEN_TTL_S: Final = 300
_PASSWORD_ACR: Final = "urn:qplane:acr:pwd"


class MfaRequired(Unauthenticated):
    """The password was right; a second factor is needed to finish logging in."""

    slug = "mfa-required"
    title = "Second factor required"

    def __init__(self, mfa_token: str) -> None:
        super().__init__(
            "this account uses multi-factor authentication: send a TOTP or recovery code "
            "with the mfa_token to /v1/auth/mfa",
            mfa_token=mfa_token,
        )


class MfaLogin:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        mfa: MfaService,
        sessions: SessionService,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        mfa_audience: str,
    ) -> None:
        self._uow = uow_factory
        self._mfa = mfa
        self._sessions = sessions
        self._issuer = issuer
        self._verifier = verifier
        self._audience = mfa_audience

    def require_second_factor(self, principal: Principal, request_id: str | None) -> None:
        """Return if *principal* has no MFA; otherwise raise `MfaRequired` with an MFA token."""
        if not self._mfa.is_enrolled(principal.id):
            return
        token, _ = self._issuer.issue(
            subject=principal.id,
            tenant=principal.tenant_id,
            roles=(),
            kind=principal.kind.value,
            audience=self._audience,
            ttl_s=MFA_TOKEN_TTL_S,
            amr=("pwd",),
            acr=_PASSWORD_ACR,
        )
        with self._uow() as uow:
            record(
                uow,
                AuditEvent(
                    "auth.login",
                    Outcome.SUCCESS,
                    principal.tenant_id,
                    principal.id,
                    principal.id,
                    request_id,
                    "password accepted; second factor required",
                    actor_kind=principal.kind.value,
                    auth_method="pwd",
                ),
            )
            uow.commit()
        raise MfaRequired(token)

    def complete(
        self,
        mfa_token: str,
        *,
        totp: str | None = None,
        recovery_code: str | None = None,
        request_id: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        """The session for a valid MFA token plus a valid second factor."""
        claims = self._verifier.verify(mfa_token, audience=self._audience)
        with self._uow() as uow:
            try:
                principal = uow.principals.get(claims.tenant, claims.sub)
            except NotFound:
                raise Unauthenticated("principal no longer exists") from None
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        method = self._mfa.verify_second_factor(
            principal, totp=totp, recovery_code=recovery_code, request_id=request_id
        )
        return self._sessions.start(
            principal,
            amr=("pwd", method),
            acr=MFA_ACR,
            request_id=request_id,
            dpop_jkt=dpop_jkt,
        )
