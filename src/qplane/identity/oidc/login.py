"""Single sign-on login: authorization code + PKCE out to the IdP, a platform session back.

`OidcLoginService.begin` answers the URL to send the browser to, plus a
binding secret for the browser's cookie, and keeps the flow (``state``
digest, ``nonce``, PKCE verifier, tenant, provider, the binding's digest)
server-side for ``ttl_s``. `OidcLoginService.complete` takes that flow —
deleting it, so a replayed callback finds nothing — checks that the browser
presents the flow's binding cookie (so nobody can make a victim's browser
finish *their* login: login CSRF), exchanges the code, verifies the ID
token, checks the email domain and the role mapping, provisions the user
and starts a platform session carrying the IdP's ``amr``/``acr``/``auth_time``
(or, for a login started by the device verification page, signs that page's
browser session in instead).

Every success and every refusal is audited in the tenant's chain (in the
platform chain when the flow is unknown, since then there is no tenant).
A refusal raises `Unauthenticated` whose message names the rule broken but
never echoes a token or code.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from qplane.broker.auditing import audit
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain.audit import Outcome
from qplane.domain.errors import IntegrityError, NotFound, Unauthenticated
from qplane.domain.oidc import IdentityProvider, LoginFlow
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import Principal
from qplane.identity.browser_binding import (
    DeviceSignIn,
    LoginStart,
    SignInRecorder,
    binding_refusal,
    new_secret,
    secret_digest,
)
from qplane.identity.memberships import idp_groups
from qplane.identity.oidc import _oauth
from qplane.identity.oidc.discovery import IssuerDirectory
from qplane.identity.oidc.id_token import IdTokenExpectations, token_kid, verify_id_token
from qplane.identity.oidc.provisioning import cut_off, provision
from qplane.identity.oidc.sealing import open_client_secret
from qplane.identity.sessions import TokenPair

CALLBACK_PATH: Final = "/v1/sso/callback"
SSO_AMR: Final = "sso"  # used when the IdP does not say how it authenticated the user
SSO_ACR: Final = "urn:qplane:acr:sso"
_ACTION: Final = "auth.sso.login"
#: The one answer for an unknown tenant and for a tenant without (that) provider alike.
SSO_NOT_CONFIGURED: Final = (
    "single sign-on is not configured for this tenant "
    "(a tenant with several identity providers needs ?provider=NAME)"
)
_SAFE_ERROR: Final = re.compile(r"^[a-z_]{1,40}$")


class SessionStarter(Protocol):
    def start(
        self,
        principal: Principal,
        *,
        amr: list[str],
        acr: str,
        auth_time: int | None = None,
        client_id: str | None = None,
        request_id: str | None = None,
    ) -> TokenPair: ...


class LoginRefused(Exception):
    """Internal: a refusal attributed to a tenant (or None), to be audited there."""

    def __init__(self, tenant_id: str | None, reason: str) -> None:
        super().__init__(reason)
        self.tenant_id = tenant_id
        self.reason = reason


class OidcLoginService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keys: KeyHierarchy,
        directory: IssuerDirectory,
        sessions: SessionStarter,
        *,
        public_url: str,
        ttl_s: int = 600,
        sign_ins: SignInRecorder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow_factory
        self._keys = keys
        self._directory = directory
        self._sessions = sessions
        self._sign_ins = sign_ins
        self._redirect_uri = public_url.rstrip("/") + CALLBACK_PATH
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock

    def begin(
        self,
        tenant_name: str,
        provider_name: str | None = None,
        *,
        browser_session: str | None = None,
    ) -> LoginStart:
        """The IdP authorization URL for this tenant's provider and the browser's binding secret.

        The flow is stored server-side with the secret's digest only; the
        caller sets the secret as a cookie. *browser_session* (a device page
        session's digest) makes the callback sign that session in instead of
        answering tokens. Raises `NotFound` — one answer, word for word —
        whether the tenant does not exist, has no provider, has no provider
        of that name, or has several and none was named.
        """
        provider = self._provider_named(tenant_name, provider_name)
        metadata = self._directory.metadata(provider.issuer)
        request = _oauth.authorization_request(
            metadata.authorization_endpoint, provider.client_id, self._redirect_uri
        )
        now = self._now()
        binding = new_secret()
        flow = LoginFlow(
            state_hash=_digest(request.state),
            tenant_id=provider.tenant_id,
            provider_id=provider.id,
            nonce=request.nonce,
            code_verifier=request.code_verifier,
            redirect_uri=self._redirect_uri,
            expires_at=now + self._ttl,
            binding_hash=secret_digest(binding),
            browser_session=browser_session,
        )
        with self._uow() as uow:
            uow.oidc_flows.purge_expired(now)
            uow.oidc_flows.add(flow)
            uow.commit()
        return LoginStart(request.url, binding)

    def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None = None,
        binding: str | None = None,
        request_id: str | None = None,
    ) -> TokenPair | DeviceSignIn:
        """Finish the login the IdP redirected back for; audited either way.

        *binding* is the cookie the browser got from `begin`: without it, or
        with another login's, the callback is refused (login CSRF) — and the
        flow is spent all the same. A login started by the device page signs
        that page's session in (`DeviceSignIn`) instead of answering tokens.
        """
        try:
            flow, principal, claims, client_id = self._complete(
                state, code, error, binding, request_id
            )
            amr, acr = _amr(claims), _acr(claims)
            auth_time = _auth_time(claims, int(self._clock()))
            if flow.browser_session is not None:
                self._sign_in_device_page(flow, principal, amr, acr, auth_time)
                return DeviceSignIn(principal.id)
        except LoginRefused as refused:
            self._audit_refusal(refused, request_id)
            raise Unauthenticated(refused.reason) from None
        return self._sessions.start(
            principal,
            amr=amr,
            acr=acr,
            auth_time=auth_time,
            client_id=client_id,
            request_id=request_id,
        )

    def _sign_in_device_page(
        self,
        flow: LoginFlow,
        principal: Principal,
        amr: list[str],
        acr: str,
        auth_time: int | None,
    ) -> None:
        if self._sign_ins is None or flow.browser_session is None:
            raise LoginRefused(flow.tenant_id, "device sign-in is not available")
        try:
            self._sign_ins.record_sign_in(
                flow.browser_session,
                principal.id,
                principal.tenant_id,
                amr=tuple(amr),
                acr=acr,
                auth_time=auth_time,
            )
        except Unauthenticated as gone:
            raise LoginRefused(flow.tenant_id, gone.detail) from None

    def _complete(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        binding: str | None,
        request_id: str | None,
    ) -> tuple[LoginFlow, Principal, dict[str, Any], str]:
        flow = self._take_flow(state)
        _check_binding(flow, binding)
        try:
            if error is not None:
                shown = error if _SAFE_ERROR.match(error) else "error"
                raise Unauthenticated(f"identity provider refused the login ({shown})")
            if not code:
                raise Unauthenticated("authorization code missing")
            provider, claims = self._verified_claims(flow, code)
            principal = self._provision(provider, claims, request_id)
        except (Unauthenticated, NotFound) as exc:
            raise LoginRefused(flow.tenant_id, exc.detail) from None
        except IntegrityError:
            raise LoginRefused(
                flow.tenant_id, "stored identity provider secret failed its integrity check"
            ) from None
        return flow, principal, claims, provider.client_id

    def _take_flow(self, state: str | None) -> LoginFlow:
        if not state or len(state) > 512:
            raise LoginRefused(None, "login state missing")
        with self._uow() as uow:
            flow = uow.oidc_flows.take(_digest(state))
            uow.commit()
        if flow is None:
            raise LoginRefused(None, "login state unknown, already used or expired")
        if flow.expires_at <= self._now():
            raise LoginRefused(flow.tenant_id, "login state expired")
        return flow

    def _verified_claims(
        self, flow: LoginFlow, code: str
    ) -> tuple[IdentityProvider, dict[str, Any]]:
        with self._uow() as uow:
            provider = uow.oidc_providers.get(flow.tenant_id, flow.provider_id)
            secret = open_client_secret(self._keys, uow, flow.tenant_id, flow.provider_id)
        metadata = self._directory.metadata(provider.issuer)
        answer = _oauth.exchange_code(
            self._directory.http,
            token_endpoint=metadata.token_endpoint,
            auth_method=_oauth.client_auth_method(
                provider.token_auth_method, metadata.token_endpoint_auth_methods
            ),
            client_id=provider.client_id,
            client_secret=secret,
            code=code,
            redirect_uri=flow.redirect_uri,
            code_verifier=flow.code_verifier,
        )
        id_token = str(answer["id_token"])
        keys = self._directory.keys_for(provider.issuer, token_kid(id_token))
        expected = IdTokenExpectations(
            provider.issuer, provider.client_id, flow.nonce, metadata.id_token_algs
        )
        return provider, verify_id_token(id_token, keys, expected, clock=self._clock)

    def _provision(
        self, provider: IdentityProvider, claims: dict[str, Any], request_id: str | None
    ) -> Principal:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Unauthenticated("ID token carries no email")
        if claims.get("email_verified") is False:
            raise Unauthenticated("email is not verified at the identity provider")
        if not provider.allows_email(email):
            raise Unauthenticated("email domain not allowed for this tenant")
        roles = provider.roles_for(claims)
        if not roles:
            with self._uow() as uow:  # cut off what the IdP no longer grants, then refuse
                cut_off(
                    uow,
                    provider,
                    subject=str(claims["sub"]),
                    now=self._now(),
                    request_id=request_id,
                )
                uow.commit()
            raise Unauthenticated("identity provider account is not mapped to any role")
        with self._uow() as uow:
            principal = provision(
                uow,
                provider,
                subject=str(claims["sub"]),
                email=email.lower(),
                roles=roles,
                project_ids=provider.projects_for(claims),
                groups=idp_groups(claims),
                now=self._now(),
                request_id=request_id,
            )
            audit(
                uow,
                principal.id,
                _ACTION,
                tenant_id=provider.tenant_id,
                target=principal.id,
                detail=f"via {provider.name}; roles={','.join(sorted(roles))}",
                request_id=request_id,
            )
            uow.commit()
        return principal

    def _provider_named(self, tenant_name: str, provider_name: str | None) -> IdentityProvider:
        with self._uow() as uow:
            tenant = uow.tenants.by_name(tenant_name)
            if tenant is None:
                raise NotFound(SSO_NOT_CONFIGURED)
            if provider_name is not None:
                found = uow.oidc_providers.by_name(tenant.id, provider_name)
                if found is None:
                    raise NotFound(SSO_NOT_CONFIGURED)
                return found
            providers = uow.oidc_providers.for_tenant(tenant.id)
        if len(providers) != 1:
            raise NotFound(SSO_NOT_CONFIGURED)
        return providers[0]

    def _audit_refusal(self, refused: LoginRefused, request_id: str | None) -> None:
        with self._uow() as uow:
            audit(
                uow,
                None,
                _ACTION,
                tenant_id=refused.tenant_id,
                target=None,
                outcome=Outcome.DENIED,
                detail=refused.reason,
                request_id=request_id,
            )
            uow.commit()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _check_binding(flow: LoginFlow, binding: str | None) -> None:
    """The callback must come from the browser that started the login (its cookie)."""
    reason = binding_refusal(binding, flow.binding_hash)
    if reason is not None:
        raise LoginRefused(flow.tenant_id, reason)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _amr(claims: dict[str, Any]) -> list[str]:
    amr = claims.get("amr")
    found = [m for m in amr if isinstance(m, str) and m] if isinstance(amr, list) else []
    return found[:10] or [SSO_AMR]


def _acr(claims: dict[str, Any]) -> str:
    acr = claims.get("acr")
    return acr if isinstance(acr, str) and 0 < len(acr) <= 200 else SSO_ACR


def _auth_time(claims: dict[str, Any], now: int) -> int | None:
    """The IdP's authentication time, never later than now (a skewed IdP clock)."""
    value = claims.get("auth_time")
    return min(value, now) if type(value) is int else None
