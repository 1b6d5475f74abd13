"""Explain a hypothetical decision: who, doing what, to which object, under which conditions.

A security review asks "could this consultant read that circuit?" without
running a job: the answer is the decision the live policies (baseline plus
the tenant's active set) would give, with the determining policies and
their text. Only the tenant's own admins may ask, only about their own
principals and objects; asking is itself audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.auditing import audit
from qplane.domain.errors import NotFound, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import Principal, PrincipalKind
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.context import AuthFacts
from qplane.policy.decision import Explanation
from qplane.policy.facts import ArtifactKind, GroupFacts, PrincipalFacts
from qplane.policy.request import ResourceLike, access_request

#: How a resource is named in an explain request: ``tenant``, ``project:ID``,
#: ``job:ID`` or ``artifact:JOB_ID:KIND`` (circuit, result, log).
RESOURCE_FORMS: Final = ("tenant", "project:ID", "job:ID", "artifact:JOB_ID:KIND")


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """The conditions of the imagined request (defaults: now, with a fresh second factor)."""

    at: datetime | None = None
    mfa: bool = True
    auth_age_s: int = 0
    source_ip: str | None = None
    break_glass: bool = False


class ExplainService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, authorizer: Authorizer, catalogue: BackendCatalogue
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer
        self._catalogue = catalogue

    def explain(
        self,
        actor: Actor,
        tenant_id: str,
        principal: str,
        action: str,
        resource: str,
        hypothesis: Hypothesis = Hypothesis(),
    ) -> Explanation:
        """The decision for *principal* (id or email) doing *action* on *resource*."""
        self._authz.on_tenant(actor, Action.POLICY_EXPLAIN, tenant_id)
        chosen = _action(action)
        with self._uow() as uow:
            subject = _principal(uow, tenant_id, principal)
            target = self._resource(uow, tenant_id, resource)
            request = access_request(
                subject,
                chosen,
                target,
                auth=AuthFacts(
                    mfa=hypothesis.mfa,
                    auth_age_s=hypothesis.auth_age_s,
                    source_ip=hypothesis.source_ip,
                ),
                at=hypothesis.at or datetime.now(UTC),
                break_glass=hypothesis.break_glass,
            )
            policies = self._authz.active.for_tenant(tenant_id, uow)
            explanation = self._authz.engine.explain(request, policies)
            verdict = "allow" if explanation.decision.allowed else "deny"
            audit(
                uow,
                actor,
                "policy.explain",
                tenant_id=tenant_id,
                target=subject.id,
                detail=(
                    f"{chosen.value} on {resource} -> {verdict} "
                    f"({','.join(explanation.decision.policy_ids)})"
                )[:500],
            )
            uow.commit()
        return explanation

    def _resource(self, uow: UnitOfWork, tenant_id: str, named: str) -> ResourceLike:
        kind, _, rest = named.partition(":")
        if kind == "tenant" and not rest:
            return facts.tenant(uow, tenant_id)
        if kind == "project" and rest:
            return facts.project(uow, tenant_id, rest)
        if kind in ("job", "artifact") and rest:
            job_id, _, artifact = rest.partition(":")
            of_job = facts.job_in(uow, self._catalogue, uow.jobs.get(tenant_id, job_id))
            if kind == "job":
                return of_job
            try:
                return facts.artifact(of_job, ArtifactKind(artifact))
            except ValueError:
                pass
        raise ValidationFailed(
            f"resource must be one of {', '.join(RESOURCE_FORMS)}", field="resource"
        )


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise ValidationFailed(f"unknown action {name[:64]!r}", field="action") from None


def _principal(uow: UnitOfWork, tenant_id: str, named: str) -> PrincipalFacts:
    """A principal of the tenant by id or email, with its projects and groups as stored."""
    found: Principal | None = None
    if "@" in named:
        login = uow.principals.for_login(named.lower())
        found = login[0] if login is not None else None
    else:
        try:
            found = uow.principals.get(tenant_id, named)
        except NotFound:
            found = None
    if found is None or found.tenant_id != tenant_id:
        raise NotFound("principal not found")
    tenant = facts.tenant(uow, tenant_id)
    groups = sorted(uow.groups.groups_of(tenant_id, found.id))
    return PrincipalFacts(
        found.id,
        PrincipalKind.SERVICE if found.kind is PrincipalKind.SERVICE else PrincipalKind.USER,
        tenant,
        frozenset(role.value for role in found.roles),
        uow.project_members.projects_of(tenant_id, found.id),
        tuple(GroupFacts(name, tenant_id) for name in groups),
        found.email,
    )
