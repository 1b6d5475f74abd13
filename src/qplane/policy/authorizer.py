"""The one decision point: every service asks `Authorizer.authorize` before acting.

It turns the caller (`Actor`, or a worker) and the object of the request
into Cedar entities, evaluates the platform baseline together with the
governing tenant's active policy set, and then:

* **allows** — returning the `Decision`; an allowed *privileged* action is
  audited with the determining policy ids in the caller's unit of work (kept
  exactly when the action is), or, for `on`/`on_tenant`, committed at once;
* **denies** — auditing the decision with its determining policy ids (in the
  platform's chain when another tenant's object was probed) and
  committing that entry in the caller's unit of work (services decide before
  they write anything, so the entry is all that transaction holds), then
  raising the error the API answers with:

  - `StepUpRequired` (401, RFC 9470 challenge) when a step-up rule decided;
  - `NotFound` when another tenant's object or a project the caller does not
    belong to decided — the answer must not confirm that the object exists;
  - `Forbidden` (403) otherwise, naming the determining policies.

Requests are built from facts the service already holds (the job it loaded,
the project it checked), plus the caller's tenant read in the same unit of
work; nothing rebuilds an entity store per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Final

from qplane.audit.actors import actor_facts
from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.errors import Forbidden, NotFound
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import PrincipalKind, Tenant
from qplane.identity.stepup import StepUpRequired, has_mfa, require_recent_mfa
from qplane.policy.actions import PRIVILEGED, Action
from qplane.policy.active import ActivePolicies
from qplane.policy.actor import Actor
from qplane.policy.context import AuthFacts
from qplane.policy.decision import Decision
from qplane.policy.determining import remember
from qplane.policy.engine import PolicyEngine
from qplane.policy.entities import Entity, EntityRef, EntityType
from qplane.policy.facts import PLATFORM, GroupFacts, PrincipalFacts, TenantFacts, WorkerFacts
from qplane.policy.request import AccessRequest, ResourceLike, access_request, tenant_of
from qplane.policy.trace import note

#: Deciding rules whose refusal must read like "no such object".
_HIDING: Final = frozenset(
    {"baseline.cross-tenant", "baseline.project-membership", "baseline.credential-project"}
)
_CROSS_TENANT: Final = "baseline.cross-tenant"
#: Deciding rules that a fresh second factor would satisfy.
_STEP_UP: Final = frozenset({"baseline.privileged-step-up", "baseline.operator-step-up"})
_MAX_DETAIL: Final = 500


def tenant_facts(tenant: Tenant) -> TenantFacts:
    return TenantFacts(tenant.id, tenant.name, tenant.timezone, tenant.region)


class Authorizer:
    """Decides, audits and refuses; shared by every service and thread."""

    def __init__(
        self,
        engine: PolicyEngine,
        uow_factory: UnitOfWorkFactory,
        active: ActivePolicies | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._uow = uow_factory
        self._active = active or ActivePolicies(uow_factory, engine)
        self._clock = clock

    @property
    def engine(self) -> PolicyEngine:
        return self._engine

    @property
    def active(self) -> ActivePolicies:
        return self._active

    def authorize(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        resource: ResourceLike,
        *,
        missing: str | None = "not found",
        break_glass: bool = False,
    ) -> Decision:
        """Return the allowing decision for *actor* doing *action* on *resource*; raise otherwise.

        *uow* is the caller's unit of work (the caller's tenant and the active
        policy pointer are read in it); *missing* is the `NotFound` text used
        when the refusal must hide the object — None where there is nothing to
        hide (a platform-wide action, an object being created).
        """
        request = self.request_for(uow, actor, action, resource, break_glass=break_glass)
        decision = self.decide(uow, request)
        remember(actor, decision)  # the change the caller records next names these policies
        self._settle(uow, actor, action, request, decision, missing)
        return decision

    def on_tenant(self, actor: Actor, action: Action, tenant_id: str | None = None) -> Decision:
        """Decide *action* on a tenant (the caller's own when *tenant_id* is None).

        For services that decide before opening their own unit of work; a
        tenant that is not the caller's answers exactly like one that does
        not exist ("tenant not found").
        """
        target = tenant_id if tenant_id is not None else actor.tenant_id
        if target is None:  # an operator acting on no tenant: the platform is the object
            return self.on(actor, action, PLATFORM)
        with self._uow() as uow:
            tenant = self.tenant_named(uow, actor, target)
            decision = self.authorize(uow, actor, action, tenant, missing="tenant not found")
            uow.commit()  # keeps the audit entry of an allowed privileged action
        return decision

    def authorize_on_tenant(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        tenant_id: str,
        *,
        missing: str = "tenant not found",
    ) -> TenantFacts:
        """`authorize` *action* on tenant *tenant_id* in the caller's unit of work.

        Returns the tenant as the decision saw it. Another tenant reads
        exactly like a missing one (*missing*).
        """
        tenant = self.tenant_named(uow, actor, tenant_id)
        self.authorize(uow, actor, action, tenant, missing=missing)
        return tenant

    @staticmethod
    def tenant_named(uow: UnitOfWork, actor: Actor, target: str) -> TenantFacts:
        """The tenant a request names, as the decision sees it.

        A tenant principal naming another tenant is not given that tenant's
        record: the database hides it from the caller's confined transaction
        anyway, and the cross-tenant baseline refuses on the id alone, whatever
        the record says, so the probe is decided and audited like any other.
        """
        if actor.tenant_id is not None and target != actor.tenant_id:
            return TenantFacts(target, target)
        return tenant_facts(uow.tenants.get(target))

    def on(
        self, actor: Actor, action: Action, resource: ResourceLike, *, missing: str | None = None
    ) -> Decision:
        """Decide *action* on *resource* in a unit of work of the decision's own.

        An allowed privileged action's audit entry is committed here, before
        the service acts: it records that the decision allowed it.
        """
        with self._uow() as uow:
            decision = self.authorize(uow, actor, action, resource, missing=missing)
            uow.commit()
        return decision

    def on_platform(self, actor: Actor, action: Action) -> Decision:
        """Decide a platform-wide *action* (listing backends, registering a worker)."""
        return self.on(actor, action, PLATFORM)

    def allows(self, uow: UnitOfWork, actor: Actor, action: Action, resource: ResourceLike) -> bool:
        """Whether the decision would allow, without auditing or raising (for filtering lists)."""
        return self.decide(uow, self.request_for(uow, actor, action, resource)).allowed

    def request_for(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        resource: ResourceLike,
        *,
        break_glass: bool = False,
    ) -> AccessRequest:
        now = self._clock()
        return access_request(
            self.principal_facts(uow, actor, tenant_of(resource)),
            action,
            resource,
            auth=self.auth_facts(actor, now),
            at=datetime.fromtimestamp(now, UTC),
            break_glass=break_glass,
        )

    def decide(self, uow: UnitOfWork, request: AccessRequest) -> Decision:
        """Evaluate *request* with the baseline and the governing tenant's active policies."""
        note(request.action.value)
        tenant_id = request.governing_tenant
        policies = None if tenant_id is None else self._active.for_tenant(tenant_id, uow)
        return self._engine.decide(request, policies)

    def authorize_worker(
        self,
        uow: UnitOfWork,
        worker: WorkerFacts,
        action: Action,
        resource: ResourceLike,
        *,
        missing: str,
    ) -> Decision:
        """The execution plane's decision: a worker leasing or reporting on a job."""
        now = self._clock()
        request = access_request(
            worker,
            action,
            resource,
            auth=AuthFacts(mfa=False, auth_age_s=0),
            at=datetime.fromtimestamp(now, UTC),
        )
        decision = self.decide(uow, request)
        remember(worker.id, decision)
        if not decision.allowed:
            self._record(uow, worker.id, None, action, request, decision)
            uow.commit()
            raise NotFound(missing)
        return decision

    def principal_facts(
        self, uow: UnitOfWork, actor: Actor, known: TenantFacts | None = None
    ) -> PrincipalFacts:
        """The caller as the policies see it: roles, projects and groups from the store.

        *known* is the resource's tenant, already read: reused when it is the
        caller's, so a decision reads the tenant once.
        """
        if actor.tenant_id is None:
            return PrincipalFacts(
                actor.principal_id,
                PrincipalKind.OPERATOR,
                None,
                frozenset(role.value for role in actor.roles),
            )
        tenant = (
            known
            if known is not None and known.id == actor.tenant_id
            else tenant_facts(uow.tenants.get(actor.tenant_id))
        )
        # A project-confined credential (API key, federated workload) works in its
        # project by construction; the credential-project rule keeps it there.
        projects = actor.member_of | ({actor.project_id} if actor.project_id else set())
        return PrincipalFacts(
            actor.principal_id,
            PrincipalKind.SERVICE if actor.kind is PrincipalKind.SERVICE else PrincipalKind.USER,
            tenant,
            frozenset(role.value for role in actor.roles),
            frozenset(projects),
            tuple(GroupFacts(name, tenant.id) for name in sorted(actor.groups)),
        )

    def auth_facts(self, actor: Actor, now: float) -> AuthFacts:
        auth_age = max(0, int(now) - actor.auth_time) if actor.auth_time is not None else 2**31
        return AuthFacts(
            mfa=has_mfa(actor.amr, actor.acr),
            auth_age_s=auth_age,
            step_up_max_age_s=actor.step_up_max_age_s,
            source_ip=_address(actor.source_ip),
            credential_project=actor.project_id,
        )

    def _settle(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        request: AccessRequest,
        decision: Decision,
        missing: str | None,
    ) -> None:
        if decision.allowed:
            if action in PRIVILEGED:
                self._record(uow, actor.principal_id, actor, action, request, decision)
            return
        self._record(uow, actor.principal_id, actor, action, request, decision)
        uow.commit()
        deciding = set(decision.policy_ids)
        if deciding & _STEP_UP:
            # Ask for a second factor only when one would change the answer.
            fresh = replace(request, context=replace(request.context, mfa=True, auth_age_s=0))
            if self.decide(uow, fresh).allowed:
                require_recent_mfa(actor)  # the RFC 9470 challenge with the actor's window
                raise StepUpRequired(
                    "this action needs a recent multi-factor authentication",
                    max_age_s=actor.step_up_max_age_s,
                )
            deciding -= _STEP_UP
        if missing is not None and deciding & _HIDING:
            raise NotFound(missing)
        raise Forbidden(
            f"{action.value} is not allowed (policies: {', '.join(decision.policy_ids)})",
            policies=list(decision.policy_ids),
        )

    def _record(
        self,
        uow: UnitOfWork,
        actor_id: str,
        actor: Actor | None,
        action: Action,
        request: AccessRequest,
        decision: Decision,
    ) -> None:
        """Add the decision to the audit log in *uow*, with its policies and the job it is about."""
        verdict = "allow" if decision.allowed else "deny"
        resource = f"{request.resource.uid.type.value}::{request.resource.uid.id}"
        detail = f"{verdict} {action.value} on {resource}; policies={','.join(decision.policy_ids)}"
        tenant_id = actor.tenant_id if actor is not None else None
        if _CROSS_TENANT in decision.policy_ids:
            # A probe of another tenant is the platform's security event, and must not
            # land in the prober's own chain: an entry there for an existing object,
            # and none for a made-up id, would confirm what the 404 hides.
            detail = f"from tenant {tenant_id}: {detail}"
            tenant_id = None
        facts = actor_facts(actor if actor is not None else actor_id)
        job_id, backend = _job_of(request)
        record(
            uow,
            AuditEvent(
                action=f"authz.{verdict}",
                outcome=Outcome.SUCCESS if decision.allowed else Outcome.DENIED,
                tenant_id=tenant_id,
                actor_id=actor_id,
                target=request.resource.uid.id[:200],
                request_id=facts.request_id,
                detail=detail[:_MAX_DETAIL],
                actor_kind=facts.actor_kind,
                auth_method=facts.auth_method,
                decision=verdict,
                policy_ids=decision.policy_ids,
                job_id=job_id,
                backend=backend,
                source_ip=facts.source_ip,
            ),
        )


def _job_of(request: AccessRequest) -> tuple[str | None, str | None]:
    """The job (and its backend) a request is about: the resource, or the artifact's job."""
    job: Entity | None = request.resource
    if request.resource.uid.type is EntityType.ARTIFACT:
        of = request.resource.attrs.get("job")
        job = next((entity for entity in request.entities if entity.uid == of), None)
    if job is None or job.uid.type is not EntityType.JOB:
        return None, None
    backend = job.attrs.get("backend")
    return job.uid.id, backend.id if isinstance(backend, EntityRef) else None


def _address(source_ip: str | None) -> str | None:
    """Only a literal IP address goes into the context (test clients send host names)."""
    if source_ip is None:
        return None
    try:
        ip_address(source_ip)
    except ValueError:
        return None
    return source_ip
