"""SAML single sign-on: AuthnRequest out (HTTP-Redirect), response in (HTTP-POST), tokens out.

Security properties:

* The RelayState is 256 random bits naming one server-side AuthnRequest
  (stored as its SHA-256, for ``request_ttl_s``); it is consumed before the
  response is even parsed, so it works at most once, on one server.
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

from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.saml import SamlIdentity, SamlLoginRequest, SamlProvider
from qplane.domain.tenancy import Principal, PrincipalKind, Role, Tenant
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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow_factory
        self._sp = sp
        self._sessions = sessions
        self._ttl = timedelta(seconds=request_ttl_s)
        self._clock = clock

    def metadata(self, tenant_name: str) -> str:
        """The signed SP metadata of an existing tenant; `NotFound` otherwise."""
        with self._uow() as uow:
            tenant = _tenant(uow, tenant_name)
        return self._sp.metadata(tenant.name)

    def begin(self, tenant_name: str, provider_id: str | None = None) -> str:
        """Record a new AuthnRequest and return the IdP URL to redirect the browser to."""
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
                relay_state, request_id, tenant.id, provider.id, self._clock() + self._ttl
            )
            uow.saml_requests.purge_expired(self._clock())
            uow.saml_requests.add(pending, _digest(relay_state))
            uow.commit()
        return url

    def complete(
        self, tenant_name: str, saml_response: str, relay_state: str, request_id: str | None
    ) -> TokenPair:
        """Verify the ACS POST and start a session; `Unauthenticated` (audited) otherwise."""
        with self._uow() as uow:
            tenant = _tenant(uow, tenant_name)
        try:
            principal, verified = self._verify_and_provision(tenant, saml_response, relay_state)
        except Unauthenticated as refused:
            self._audit(tenant.id, None, Outcome.DENIED, refused.detail, request_id)
            raise
        amr = amr_for(verified.authn_class)
        pair = self._sessions.start(
            principal,
            amr=amr,
            acr=verified.authn_class or UNSPECIFIED_ACR,
            auth_time=int(verified.authn_instant.timestamp()) if verified.authn_instant else None,
            request_id=request_id,
        )
        detail = f"idp={verified.issuer} amr={','.join(amr) or '-'} jti={pair.claims.jti}"
        self._audit(tenant.id, principal.id, Outcome.SUCCESS, detail[:500], request_id)
        return pair

    def _verify_and_provision(
        self, tenant: Tenant, saml_response: str, relay_state: str
    ) -> tuple[Principal, VerifiedAssertion]:
        with self._uow() as uow:
            try:
                pending = uow.saml_requests.consume(tenant.id, _digest(relay_state), self._clock())
            except NotFound:
                raise Unauthenticated("SAML login request unknown, used or expired") from None
            uow.commit()  # single use even if what follows refuses
            provider = _provider(uow, tenant, pending.provider_id, missing=Unauthenticated)
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
        return self._provision(tenant, provider, verified), verified

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
            uow.commit()
        return principal

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
        tenant_id: str,
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
        raise NotFound("tenant not found")
    return tenant


def _provider(
    uow: UnitOfWork,
    tenant: Tenant,
    provider_id: str | None,
    missing: type[NotFound] | type[Unauthenticated] = NotFound,
) -> SamlProvider:
    if provider_id is not None:
        try:
            return uow.saml_providers.get(tenant.id, provider_id)
        except NotFound:
            raise missing("SAML identity provider not found") from None
    providers = uow.saml_providers.for_tenant(tenant.id)
    if len(providers) != 1:
        raise missing("choose a SAML identity provider with ?provider=")
    return providers[0]
