"""The one place a caller's bearer token becomes an `Actor`.

Single sign-on and sender-constrained tokens hook in here; revocation
(jti deny-list, principal and tenant watermarks) is checked here on every
request, and legacy API keys (``qpk_…``) are resolved here. Nothing else in
qplane checks a token.
"""

from __future__ import annotations

from dataclasses import replace

from qplane.domain.errors import NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import Principal, PrincipalKind
from qplane.identity.api_keys import API_KEY_PREFIX, ApiKeyService
from qplane.identity.dpop import DPoPContext, DPoPVerifier, InvalidDPoP, check_sender
from qplane.identity.revocation import check_not_revoked
from qplane.identity.tokens import TokenVerifier
from qplane.policy.actor import Actor


class Authenticator:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        verifier: TokenVerifier,
        *,
        api_keys: ApiKeyService | None = None,
        dpop: DPoPVerifier | None = None,
        step_up_max_age_s: int = 900,
    ) -> None:
        self._uow = uow_factory
        #: The platform's step-up window, carried on every Actor this builds.
        self.step_up_max_age_s = step_up_max_age_s
        self._verifier = verifier
        self._api_keys = api_keys
        self._dpop = dpop or DPoPVerifier(uow_factory)

    @property
    def dpop(self) -> DPoPVerifier:
        """The DPoP proof checker issuing endpoints use to bind new tokens."""
        return self._dpop

    def actor_for(
        self,
        token: str,
        request_id: str | None = None,
        source_ip: str | None = None,
        *,
        dpop: DPoPContext | None = None,
    ) -> Actor:
        """Verify *token* and load its principal's current state (see `_resolve`)."""
        actor = self._resolve(token, request_id, source_ip, dpop=dpop)
        return replace(actor, step_up_max_age_s=self.step_up_max_age_s)

    def _resolve(
        self,
        token: str,
        request_id: str | None = None,
        source_ip: str | None = None,
        *,
        dpop: DPoPContext | None = None,
    ) -> Actor:
        """Verify *token* and load its principal's current state.

        Roles come from the principal's record, not the token, so a demotion
        or a disabled account takes effect on the next request.

        A DPoP-bound token is accepted only with a valid proof for this
        request (*dpop*; see `check_sender`). A federated service principal
        is scoped to its trust policy's project, and refused an unbound token
        when that policy requires DPoP.
        """
        if token.startswith(API_KEY_PREFIX) and self._api_keys is not None:
            return self._api_keys.resolve(token, request_id=request_id, source_ip=source_ip)
        claims = self._verifier.verify(token)
        if claims.kind == "worker":
            raise Unauthenticated("worker tokens are not accepted here")
        check_sender(self._dpop, token, claims.cnf_jkt, dpop)
        with self._uow() as uow:
            try:
                principal = uow.principals.get(claims.tenant, claims.sub)
            except NotFound:
                raise Unauthenticated("principal no longer exists") from None
            check_not_revoked(uow, claims)
            project_scope = _federated_project(uow, principal, claims.cnf_jkt)
            member_of: frozenset[str] = frozenset()
            groups: frozenset[str] = frozenset()
            if principal.tenant_id is not None:
                member_of = uow.project_members.projects_of(principal.tenant_id, principal.id)
                groups = uow.groups.groups_of(principal.tenant_id, principal.id)
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        return Actor(
            principal_id=principal.id,
            kind=PrincipalKind(principal.kind),
            tenant_id=principal.tenant_id,
            roles=principal.roles,
            request_id=request_id,
            source_ip=source_ip,
            amr=claims.amr,
            acr=claims.acr,
            auth_time=claims.auth_time,
            token_jti=claims.jti,
            cnf_jkt=claims.cnf_jkt,
            project_id=project_scope,
            member_of=member_of,
            groups=groups,
        )


def _federated_project(uow: UnitOfWork, principal: Principal, cnf_jkt: str | None) -> str | None:
    """The one project a federated service principal may act in (None for everyone else).

    Raises `InvalidDPoP` when its trust policy requires DPoP and the token is unbound.
    """
    if principal.kind is not PrincipalKind.SERVICE or principal.tenant_id is None:
        return None
    trust = uow.trust_policies.for_principal(principal.tenant_id, principal.id)
    if trust is None:
        return None
    if trust.require_dpop and cnf_jkt is None:
        raise InvalidDPoP("this service principal requires DPoP-bound tokens")
    return trust.project_id
