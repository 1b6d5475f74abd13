"""SAML single sign-on: AuthnRequest out (HTTP-Redirect), response in (HTTP-POST), tokens out.

Security properties:

* The RelayState is 256 random bits naming one server-side AuthnRequest
  (stored as its SHA-256, for ``request_ttl_s``); it is consumed before the
  response is even parsed, so it works at most once, on one server.
* The request is bound to the browser that started it: a cookie's digest
  is stored with it, and a POST to the ACS without that cookie (or with
  another login's) is refused, so nobody can make a victim's browser finish
  *their* login (login CSRF).
* Login, ACS and metadata answer an unknown tenant exactly as a tenant
  without (that) IdP: they do not tell which tenants exist.
* The response must answer exactly that request, be addressed to the tenant's
  ACS URL, carry an assertion signed by the tenant's registered IdP with our
  audience, within its validity window (see `_pysaml`).
* An accepted assertion's id is kept in the database until it expires; the
  same assertion is refused on any server (replay).
* Principals are provisioned just in time and linked to (IdP entity id,
  NameID); an email already held by another account is never taken over.
  A user the IdP no longer maps to a role loses the roles and is refused;
  the email must be in an allowed domain at every login, not only the first.
* Every success and refusal is audited in the tenant's chain.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.saml import SamlIdentity, SamlLoginRequest, SamlProvider
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
from qplane.identity.browser_binding import (
    DeviceSignIn,
    LoginStart,
    SignInRecorder,
    binding_refusal,
    new_secret,
    secret_digest,
)
from qplane.identity.memberships import provider_source, sync_projects
from qplane.identity.saml import _pysaml
from qplane.identity.saml._pysaml import VerifiedAssertion
from qplane.identity.saml.mapping import (
    UNSPECIFIED_ACR,
    amr_for,
    email_for,
    projects_for,
    roles_for,
)
from qplane.identity.saml.service_provider import ServiceProvider
from qplane.identity.sessions import SessionService, TokenPair

_ACTION = "auth.saml"
#: The one answer for an unknown tenant and for a tenant without (that) IdP alike.
SAML_NOT_CONFIGURED: Final = (
    "SAML single sign-on is not configured for this tenant "
    "(a tenant with several SAML identity providers needs ?provider=ID)"
)
_UNKNOWN_REQUEST: Final = "SAML login request unknown, used or expired"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class SamlLoginService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sp: ServiceProvider,
        sessions: SessionService,
        request_ttl_s: int,
        *,
        sign_ins: SignInRecorder | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow_factory
        self._sp = sp
        self._sessions = sessions
        self._sign_ins = sign_ins
        self._ttl = timedelta(seconds=request_ttl_s)
        self._clock = clock

    def metadata(self, tenant_name: str) -> str:
        """The signed SP metadata of a tenant with a SAML IdP.

        `NotFound` — the same answer as for a tenant that does not exist — for
        a tenant without one, so the endpoint cannot be used to discover
        tenant names.
        """
        with self._uow() as uow:
            tenant = _tenant(uow, tenant_name)
            if not uow.saml_providers.for_tenant(tenant.id):
                raise NotFound(SAML_NOT_CONFIGURED)
        return self._sp.metadata(tenant.name)

    def begin(
        self,
        tenant_name: str,
        provider_id: str | None = None,
        *,
        browser_session: str | None = None,
    ) -> LoginStart:
        """Record a new AuthnRequest; return the IdP URL and the browser's binding secret.

        The caller sets the secret as a cookie; only its digest is stored.
        *browser_session* (a device page session's digest) makes the ACS sign
        that session in instead of answering tokens. `NotFound`, word for word
        the same, for an unknown tenant and a tenant without (that) IdP.
        """
        binding = new_secret()
        with self._uow() as uow:
            tenant = _tenant(uow, tenant_name)
            provider = _provider(uow, tenant, provider_id)
            relay_state = secrets.token_urlsafe(32)
            request_id, url = _pysaml.authn_request(
                self._sp.endpoints(tenant.name),
                self._sp.keys,
                provider.metadata_xml,
                provider.entity_id,
                relay_state,
            )
            pending = SamlLoginRequest(
                relay_state,
                request_id,
                tenant.id,
                provider.id,
                self._clock() + self._ttl,
                binding_hash=secret_digest(binding),
                browser_session=browser_session,
            )
            uow.saml_requests.purge_expired(self._clock())
            uow.saml_requests.add(pending, _digest(relay_state))
            uow.commit()
        return LoginStart(url, binding)

    def complete(
        self,
        tenant_name: str,
        saml_response: str,
        relay_state: str,
        binding: str | None,
        request_id: str | None,
    ) -> TokenPair | DeviceSignIn:
        """Verify the ACS POST and start a session; `Unauthenticated` (audited) otherwise.

        An unknown tenant is refused exactly like an unknown RelayState (in
        the platform chain), so the ACS does not tell which tenants exist.
        *binding* is the browser's cookie from `begin` (login CSRF). A login
        started by the device page signs that page's session in
        (`DeviceSignIn`) instead of answering tokens.
        """
        with self._uow() as uow:
            tenant = uow.tenants.by_name(tenant_name)
        if tenant is None:
            self._audit(None, None, Outcome.DENIED, _UNKNOWN_REQUEST, request_id)
            raise Unauthenticated(_UNKNOWN_REQUEST)
        try:
            pending, principal, verified = self._verify_and_provision(
                tenant, saml_response, relay_state, binding
            )
            amr = amr_for(verified.authn_class)
            acr = verified.authn_class or UNSPECIFIED_ACR
            auth_time = int(verified.authn_instant.timestamp()) if verified.authn_instant else None
            if pending.browser_session is not None:
                self._sign_in_device_page(pending.browser_session, principal, amr, acr, auth_time)
        except Unauthenticated as refused:
            self._audit(tenant.id, None, Outcome.DENIED, refused.detail, request_id)
            raise
        if pending.browser_session is not None:
            detail = f"idp={verified.issuer} amr={','.join(amr) or '-'} for the device page"
            self._audit(tenant.id, principal.id, Outcome.SUCCESS, detail[:500], request_id)
            return DeviceSignIn(principal.id)
        pair = self._sessions.start(
            principal, amr=amr, acr=acr, auth_time=auth_time, request_id=request_id
        )
        detail = f"idp={verified.issuer} amr={','.join(amr) or '-'} jti={pair.claims.jti}"
        self._audit(tenant.id, principal.id, Outcome.SUCCESS, detail[:500], request_id)
        return pair

    def _sign_in_device_page(
        self,
        browser_session: str,
        principal: Principal,
        amr: tuple[str, ...],
        acr: str,
        auth_time: int | None,
    ) -> None:
        if self._sign_ins is None:
            raise Unauthenticated("device sign-in is not available")
        self._sign_ins.record_sign_in(
            browser_session,
            principal.id,
            principal.tenant_id,
            amr=amr,
            acr=acr,
            auth_time=auth_time,
        )

    def _verify_and_provision(
        self, tenant: Tenant, saml_response: str, relay_state: str, binding: str | None
    ) -> tuple[SamlLoginRequest, Principal, VerifiedAssertion]:
        with self._uow() as uow:
            try:
                pending = uow.saml_requests.consume(tenant.id, _digest(relay_state), self._clock())
            except NotFound:
                raise Unauthenticated(_UNKNOWN_REQUEST) from None
            uow.commit()  # single use even if what follows refuses
            refusal = binding_refusal(binding, pending.binding_hash)
            if refusal is not None:
                raise Unauthenticated(refusal)
            try:
                provider = _provider(uow, tenant, pending.provider_id)
            except NotFound:
                raise Unauthenticated("SAML identity provider is no longer registered") from None
        verified = _pysaml.verify_response(
            self._sp.endpoints(tenant.name),
            self._sp.keys,
            provider.metadata_xml,
            provider.entity_id,
            saml_response,
            pending.request_id,
            self._sp.skew_s,
            self._clock,
        )
        return pending, self._provision(tenant, provider, verified), verified

    def _provision(
        self, tenant: Tenant, provider: SamlProvider, verified: VerifiedAssertion
    ) -> Principal:
        roles = roles_for(provider, verified.attributes)
        projects = projects_for(provider, verified.attributes)
        subject = _digest(tenant.id, verified.issuer, verified.name_id)
        with self._uow() as uow:
            self._remember(uow, tenant.id, verified)
            linked = uow.saml_identities.principal_for(tenant.id, subject)
            if not roles:
                if linked is not None:  # cut off what the IdP no longer grants
                    uow.saml_identities.sync(tenant.id, subject, frozenset(), ())
                    self._sync_projects(uow, provider, linked.principal_id, ())
                    uow.commit()
                raise Unauthenticated("SAML user no longer maps to any role in this tenant")
            email = email_for(provider, verified.attributes, verified.name_id)  # every login
            if linked is None:
                principal = self._create(uow, tenant, verified, email, roles, projects, subject)
            else:
                principal = uow.principals.get(tenant.id, linked.principal_id)
                if principal.disabled:
                    raise Unauthenticated("principal is disabled")
                uow.saml_identities.sync(tenant.id, subject, roles, projects)
                principal = replace(principal, roles=roles)
            self._sync_projects(uow, provider, principal.id, projects)
            uow.commit()
        return principal

    def _sync_projects(
        self,
        uow: UnitOfWork,
        provider: SamlProvider,
        principal_id: str,
        projects: tuple[str, ...],
    ) -> None:
        sync_projects(
            uow,
            tenant_id=provider.tenant_id,
            principal_id=principal_id,
            source=provider_source("saml", provider.id),
            project_ids=projects,
            now=self._clock(),
        )

    def _remember(self, uow: UnitOfWork, tenant_id: str, verified: VerifiedAssertion) -> None:
        uow.saml_assertions.purge_expired(self._clock())
        expires_at = verified.expires_at + timedelta(seconds=self._sp.skew_s)
        try:
            uow.saml_assertions.remember(
                tenant_id, _digest(verified.issuer, verified.assertion_id), expires_at
            )
        except Conflict:
            raise Unauthenticated("SAML assertion was already used (replay)") from None

    def _create(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        verified: VerifiedAssertion,
        email: str,
        roles: frozenset[Role],
        projects: tuple[str, ...],
        subject: str,
    ) -> Principal:
        if uow.principals.for_login(email) is not None:
            raise Unauthenticated("email already belongs to another account")
        principal = Principal(
            id=ids.new_id(ids.PRINCIPAL),
            kind=PrincipalKind.USER,
            tenant_id=tenant.id,
            email=email,
            roles=roles,
        )
        uow.principals.add(principal, None)  # no password: SAML only
        identity = SamlIdentity(
            tenant.id, verified.issuer, verified.name_id, principal.id, projects
        )
        uow.saml_identities.link(identity, subject, self._clock())
        audit(
            uow,
            None,
            "user.provision",
            tenant_id=tenant.id,
            target=principal.id,
            detail=f"saml idp={verified.issuer} roles={','.join(sorted(roles))}"[:500],
        )
        return principal

    def _audit(
        self,
        tenant_id: str | None,
        actor_id: str | None,
        outcome: Outcome,
        detail: str,
        request_id: str | None,
    ) -> None:
        with self._uow() as uow:
            audit(
                uow,
                actor_id,
                _ACTION,
                tenant_id=tenant_id,
                target=actor_id,
                outcome=outcome,
                detail=detail,
                request_id=request_id,
            )
            uow.commit()


def _tenant(uow: UnitOfWork, name: str) -> Tenant:
    tenant = uow.tenants.by_name(name)
    if tenant is None:
        raise NotFound(SAML_NOT_CONFIGURED)
    return tenant


def _provider(uow: UnitOfWork, tenant: Tenant, provider_id: str | None) -> SamlProvider:
    """The tenant's IdP *provider_id*, or its only one; `NotFound(SAML_NOT_CONFIGURED)` else."""
    if provider_id is not None:
        try:
            return uow.saml_providers.get(tenant.id, provider_id)
        except NotFound:
            raise NotFound(SAML_NOT_CONFIGURED) from None
    providers = uow.saml_providers.for_tenant(tenant.id)
    if len(providers) != 1:
        raise NotFound(SAML_NOT_CONFIGURED)
    return providers[0]
