"""Workload identity federation: trust policies and the RFC 8693 token exchange.

A tenant admin defines, per project, which tokens of an external OpenID
Connect issuer (a CI system, a cloud's workload identity) may act in that
project (`FederationService.create_policy`). Each policy owns one service
principal holding the policy's roles (member or viewer, never admin).

`FederationService.exchange` swaps an external token for a platform token.
Security properties:

* Only issuers named by a policy of the requested project are contacted;
  any other issuer is refused before a key is fetched.
* The token is verified as `federation_claims.verify_subject_token` says
  (allowed algorithms, issuer's JWKS key, iss/exp/iat/jti, lifetime), then
  its audience and every claim condition of a policy must match.
* Each token is accepted once: its ``jti`` is stored (hashed) in the
  database until the token expires, so a replay fails on every server.
* A policy that requires DPoP refuses an exchange without a valid proof; a
  proof, when given, binds the issued token to its key (``cnf.jkt``).
* The issued token is for the policy's service principal, lives at most
  ``min(policy.max_ttl_s, 600)`` seconds, carries ``amr: ["fed"]`` and is
  scoped to the policy's project by `qplane.identity.authenticate`.
* Every exchange, accepted or refused, is audited (the tenant's chain once
  the project's tenant is known, the platform chain otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

from qplane.audit.actors import auth_method_of
from qplane.audit.log import record
from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import (
    Forbidden,
    NotFound,
    QplaneError,
    Unauthenticated,
    ValidationFailed,
)
from qplane.domain.federation import (
    MAX_FEDERATED_TTL_S,
    TrustPolicy,
    validate_conditions,
    validate_federated_roles,
    validate_issuer,
    validate_max_ttl,
)
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import Principal, PrincipalKind, validate_slug
from qplane.identity.dpop import DPoPVerifier, InvalidDPoP
from qplane.identity.federation_claims import (
    LEEWAY_S,
    audience_matches,
    conditions_match,
    unverified_issuer,
    verify_subject_token,
)
from qplane.identity.federation_jwks import IssuerKeys
from qplane.identity.tokens import TokenIssuer
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
FEDERATED_AMR: Final = ("fed",)
FEDERATED_ACR: Final = "urn:qplane:acr:federated"
_POLICY_PREFIX: Final = "tp"
_SUBJECT_TYPES: Final = frozenset({JWT_TOKEN_TYPE, ID_TOKEN_TYPE})
_NAMESPACE: Final = "fed"


class ExchangeRefused(QplaneError):
    """RFC 8693 / RFC 6749 §5.2 refusal; ``error`` says which OAuth error it is."""

    slug = "invalid-grant"
    title = "Token exchange refused"
    status = 400

    def __init__(self, detail: str, error: str = "invalid_grant") -> None:
        super().__init__(detail, error=error)


@dataclass(frozen=True, slots=True)
class TrustPolicySpec:
    name: str
    issuer: str
    audience: str
    conditions: list[tuple[str, str, str]]
    roles: list[str]
    max_ttl_s: int = MAX_FEDERATED_TTL_S
    require_dpop: bool = False


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """A token-exchange request as received (form fields), with the request's DPoP context."""

    grant_type: str
    subject_token: str
    subject_token_type: str
    audience: str
    requested_token_type: str | None = None
    dpop_proof: str | None = None
    url: str = ""
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    access_token: str
    token_type: str  # "DPoP" when bound, else "Bearer"
    expires_in: int
    issued_token_type: str = ACCESS_TOKEN_TYPE


class FederationService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        issuer: TokenIssuer,
        keys: IssuerKeys,
        dpop: DPoPVerifier,
        *,
        allow_http_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)
        self._issuer = issuer
        self._keys = keys
        self._dpop = dpop
        self._allow_http_loopback = allow_http_loopback
        self._clock = clock

    # -- administration ---------------------------------------------------
    def create_policy(self, actor: Actor, project_id: str, spec: TrustPolicySpec) -> TrustPolicy:
        """Create a policy and its service principal; tenant admins of the project's tenant only."""
        self._authz.on_tenant(actor, Action.TRUST_POLICY_MANAGE, actor.tenant_id)
        tenant_id = _tenant_of(actor)
        policy_id = ids.new_id(_POLICY_PREFIX)
        principal = Principal(
            id=ids.new_id(ids.PRINCIPAL),
            kind=PrincipalKind.SERVICE,
            tenant_id=tenant_id,
            email=f"{policy_id}@workload.qplane.invalid",
            roles=validate_federated_roles(spec.roles),
        )
        policy = TrustPolicy(
            id=policy_id,
            tenant_id=tenant_id,
            project_id=project_id,
            principal_id=principal.id,
            name=validate_slug(spec.name, "name"),
            issuer=validate_issuer(spec.issuer, allow_http_loopback=self._allow_http_loopback),
            audience=_audience(spec.audience),
            conditions=validate_conditions(spec.conditions),
            roles=principal.roles,
            max_ttl_s=validate_max_ttl(spec.max_ttl_s),
            require_dpop=spec.require_dpop,
            created_at=utcnow(),
        )
        with self._uow() as uow:
            uow.projects.get(tenant_id, project_id)
            uow.principals.add(principal, None)  # no password: it can only be federated into
            uow.trust_policies.add(policy)
            self._audit(uow, actor, "trust_policy.create", policy, _describe(policy))
            uow.commit()
        return policy

    def list_policies(self, actor: Actor, project_id: str) -> list[TrustPolicy]:
        self._authz.on_tenant(actor, Action.TRUST_POLICY_READ, actor.tenant_id)
        tenant_id = _tenant_of(actor)
        with self._uow() as uow:
            uow.projects.get(tenant_id, project_id)
            return uow.trust_policies.for_project(tenant_id, project_id)

    def delete_policy(self, actor: Actor, project_id: str, policy_id: str) -> None:
        """Delete a policy; its service principal is disabled, so its tokens stop working."""
        self._authz.on_tenant(actor, Action.TRUST_POLICY_MANAGE, actor.tenant_id)
        tenant_id = _tenant_of(actor)
        with self._uow() as uow:
            if uow.trust_policies.get(tenant_id, policy_id).project_id != project_id:
                raise NotFound("trust policy not found")
            policy = uow.trust_policies.delete(tenant_id, policy_id)
            self._audit(uow, actor, "trust_policy.delete", policy, None)
            uow.commit()

    # -- the exchange -----------------------------------------------------
    def exchange(self, request: ExchangeRequest) -> ExchangeResult:
        """A platform token for the first policy the subject token satisfies; see module doc."""
        _check_form(request)
        project_id = request.audience
        try:
            iss = unverified_issuer(request.subject_token)
        except Unauthenticated as exc:
            self._refuse(request, None, project_id, exc.detail)
        with self._uow() as uow:
            policies = uow.trust_policies.for_exchange(project_id, iss)
        if not policies:
            self._refuse(request, None, project_id, "issuer not trusted for this project")
        tenant_id = policies[0].tenant_id
        try:
            claims = verify_subject_token(
                request.subject_token, iss, self._keys, int(self._clock())
            )
            jkt = self._proof_key(request)
        except InvalidDPoP as exc:
            self._refuse(request, tenant_id, project_id, exc.detail, "invalid_dpop_proof")
        except Unauthenticated as exc:
            self._refuse(request, tenant_id, project_id, exc.detail)
        policy = _first_match(policies, claims)
        subject = f"sub={str(claims.get('sub'))[:200]}"
        if policy is None:
            self._refuse(request, tenant_id, project_id, f"no trust policy matches ({subject})")
        if policy.require_dpop and jkt is None:
            self._refuse(request, tenant_id, policy.id, "this trust policy requires DPoP")
        return self._issue(request, policy, claims, jkt, subject)

    def _issue(
        self,
        request: ExchangeRequest,
        policy: TrustPolicy,
        claims: dict[str, Any],
        jkt: str | None,
        subject: str,
    ) -> ExchangeResult:
        now = self._clock()
        remember_until = datetime.fromtimestamp(int(claims["exp"]) + LEEWAY_S + 1, UTC)
        with self._uow() as uow:
            first = uow.seen_token_ids.first_use(
                _NAMESPACE,
                f"{policy.issuer}\x00{claims['jti']}",
                remember_until,
                datetime.fromtimestamp(now, UTC),
            )
            principal = uow.principals.get(policy.tenant_id, policy.principal_id)
            if first and not principal.disabled:
                token, issued = self._issuer.issue(
                    principal.id,
                    policy.tenant_id,
                    frozenset(role.value for role in principal.roles),
                    PrincipalKind.SERVICE.value,
                    ttl_s=min(policy.max_ttl_s, MAX_FEDERATED_TTL_S),
                    amr=FEDERATED_AMR,
                    acr=FEDERATED_ACR,
                    cnf_jkt=jkt,
                    client_id=policy.id,
                )
                detail = f"{subject} token {issued.jti} issued" + (" (DPoP)" if jkt else "")
                self._record(uow, request, policy.tenant_id, principal.id, policy.id, detail)
                uow.commit()
                return ExchangeResult(token, "DPoP" if jkt else "Bearer", issued.exp - issued.iat)
        reason = "subject token already used" if not first else "service principal disabled"
        self._refuse(request, policy.tenant_id, policy.id, f"{reason} ({subject})")

    def _proof_key(self, request: ExchangeRequest) -> str | None:
        if request.dpop_proof is None:
            return None
        return self._dpop.verify(request.dpop_proof, "POST", request.url)

    def _refuse(
        self,
        request: ExchangeRequest,
        tenant_id: str | None,
        target: str,
        reason: str,
        error: str = "invalid_grant",
    ) -> NoReturn:
        with self._uow() as uow:
            self._record(uow, request, tenant_id, None, target[:200], reason, Outcome.DENIED)
            uow.commit()
        raise ExchangeRefused(f"subject token not accepted: {reason}", error)

    def _record(
        self,
        uow: UnitOfWork,
        request: ExchangeRequest,
        tenant_id: str | None,
        actor_id: str | None,
        target: str,
        detail: str,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> None:
        event = AuditEvent(
            "auth.token_exchange",
            outcome,
            tenant_id,
            actor_id,
            target,
            request.request_id,
            detail,
            actor_kind=PrincipalKind.SERVICE.value,
            auth_method=auth_method_of(FEDERATED_AMR),
        )
        record(uow, event)

    def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, policy: TrustPolicy, detail: str | None
    ) -> None:
        audit(uow, actor, action, tenant_id=policy.tenant_id, target=policy.id, detail=detail)


def _check_form(request: ExchangeRequest) -> None:
    if request.grant_type != GRANT_TYPE:
        raise ExchangeRefused("grant_type must be token exchange", "unsupported_grant_type")
    if request.subject_token_type not in _SUBJECT_TYPES:
        raise ExchangeRefused("subject_token_type must be a JWT", "invalid_request")
    if request.requested_token_type not in (None, ACCESS_TOKEN_TYPE):
        raise ExchangeRefused("only access tokens are issued", "invalid_request")
    if not ids.is_well_formed(request.audience, ids.PROJECT):
        raise ExchangeRefused("audience must name a project id (prj_…)", "invalid_target")


def _first_match(policies: list[TrustPolicy], claims: dict[str, Any]) -> TrustPolicy | None:
    for policy in policies:
        if audience_matches(claims, policy.audience) and conditions_match(
            claims, policy.conditions
        ):
            return policy
    return None


def _tenant_of(actor: Actor) -> str:
    if actor.tenant_id is None:
        raise Forbidden("trust policies belong to a tenant")
    return actor.tenant_id


def _audience(value: str) -> str:
    if not 0 < len(value) <= 255 or not value.isprintable():
        raise ValidationFailed("audience must be 1-255 printable characters", field="audience")
    return value


def _describe(policy: TrustPolicy) -> str:
    conditions = ", ".join(f"{c.claim} {c.op.value} {c.value}" for c in policy.conditions)
    roles = ",".join(sorted(policy.roles))
    return f"issuer={policy.issuer} aud={policy.audience} [{conditions}] roles={roles}"[:1000]
