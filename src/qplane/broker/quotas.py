"""Quotas, plans, allowed regions and usage: setting them, and showing them to tenant admins.

Operators set a tenant's quotas, plan (its fair-share weight) and allowed
regions; tenant admins share those out among their projects, each project
at most narrowing the tenant's regions. Usage is read from the jobs
themselves (`qplane.store.repositories.usage`), per tenant and per project,
with when each period resets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from qplane.backends.catalogue import BackendCatalogue
from qplane.broker import authz_facts as facts
from qplane.broker.auditing import audit
from qplane.domain import quotas, regions
from qplane.domain.clock import utcnow
from qplane.domain.errors import NotFound
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.quotas import Limit, Quota, Usage
from qplane.domain.tenancy import Project, Tenant
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer


@dataclass(frozen=True, slots=True)
class ScopeUsage:
    """A tenant's or one project's quota (None: no limits set) and use."""

    quota: Quota | None
    usage: Usage
    allowed_regions: tuple[str, ...]
    project: Project | None = None


@dataclass(frozen=True, slots=True)
class UsageReport:
    tenant: Tenant
    weight: int
    overall: ScopeUsage
    projects: tuple[ScopeUsage, ...]
    shots_reset_at: datetime
    seconds_reset_at: datetime


class QuotaService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, catalogue: BackendCatalogue, authorizer: Authorizer
    ) -> None:
        self._uow = uow_factory
        self._catalogue = catalogue
        self._authz = authorizer

    def set_tenant_limits(
        self,
        actor: Actor,
        tenant_id: str,
        quota: Quota,
        *,
        plan: str | None = None,
        allowed_regions: tuple[str, ...] | None = None,
    ) -> Tenant:
        """Replace the tenant's quota, and change its plan or regions if given (operators)."""
        quotas.validate(quota)
        with self._uow() as uow:
            self._authz.authorize_on_tenant(uow, actor, Action.QUOTA_MANAGE, tenant_id)
            tenant = uow.tenants.get(tenant_id)
            if plan is not None:
                quotas.plan_weight(plan)
            updated = replace(
                tenant,
                plan=tenant.plan if plan is None else plan,
                allowed_regions=tenant.allowed_regions
                if allowed_regions is None
                else regions.normalise(allowed_regions),
            )
            uow.tenants.update_scheduling(
                tenant_id, plan=updated.plan, allowed_regions=updated.allowed_regions
            )
            uow.quotas.put(replace(quota, tenant_id=tenant_id, project_id=None), utcnow())
            audit(
                uow,
                actor,
                "quota.set",
                tenant_id=tenant_id,
                target=tenant_id,
                detail=f"plan={updated.plan} regions={','.join(updated.allowed_regions) or '*'} "
                + _limits(quota),
            )
            uow.commit()
        return updated

    def set_project_limits(
        self,
        actor: Actor,
        project_id: str,
        quota: Quota,
        *,
        allowed_regions: tuple[str, ...] | None = None,
    ) -> Project:
        """Replace one project's quota (and regions, within the tenant's) — tenant admins."""
        quotas.validate(quota)
        tenant_id = _tenant_of(actor)
        with self._uow() as uow:
            in_project = facts.project(uow, tenant_id, project_id)
            self._authz.authorize(
                uow, actor, Action.PROJECT_LIMITS_MANAGE, in_project, missing="project not found"
            )
            tenant = uow.tenants.get(tenant_id)
            project = uow.projects.get(tenant_id, project_id)
            if allowed_regions is not None:
                narrowed = regions.normalise(allowed_regions)
                regions.check_narrows(narrowed, tenant.allowed_regions)
                uow.projects.set_allowed_regions(tenant_id, project_id, narrowed)
                project = replace(project, allowed_regions=narrowed)
            uow.quotas.put(replace(quota, tenant_id=tenant_id, project_id=project_id), utcnow())
            audit(
                uow,
                actor,
                "project.limits.set",
                tenant_id=tenant_id,
                target=project_id,
                detail=f"regions={','.join(project.allowed_regions) or '*'} " + _limits(quota),
            )
            uow.commit()
        return project

    def report(self, actor: Actor, tenant_id: str) -> UsageReport:
        """The tenant's and each project's quotas and use, with the periods' reset times."""
        now = utcnow()
        with self._uow() as uow:
            self._authz.authorize_on_tenant(uow, actor, Action.USAGE_READ, tenant_id)
            tenant = uow.tenants.get(tenant_id)
            overall = self._scope(uow, tenant_id, None, now, tenant.allowed_regions)
            projects = tuple(
                replace(
                    self._scope(uow, tenant_id, project.id, now, project.allowed_regions),
                    project=project,
                )
                for project in uow.projects.for_tenant(tenant_id)
            )
        return UsageReport(
            tenant=tenant,
            weight=quotas.weight_of(tenant.plan),
            overall=overall,
            projects=projects,
            shots_reset_at=_reset(Limit.SHOTS_PER_DAY, now),
            seconds_reset_at=_reset(Limit.QPU_SECONDS_PER_MONTH, now),
        )

    def _scope(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        project_id: str | None,
        now: datetime,
        allowed: tuple[str, ...],
    ) -> ScopeUsage:
        usage = uow.usage.usage(tenant_id, project_id, now, self._catalogue.names_by_kind())
        return ScopeUsage(uow.quotas.get(tenant_id, project_id), usage, allowed)


def _limits(quota: Quota) -> str:
    return " ".join(
        f"{which.value}={'-' if quota.limit(which) is None else quota.limit(which)}"
        for which in Limit
    )


def _reset(which: Limit, now: datetime) -> datetime:
    reset = quotas.resets_at(which, now)
    assert reset is not None  # periodic limits always reset
    return reset


def _tenant_of(actor: Actor) -> str:
    if actor.tenant_id is None:
        raise NotFound("project not found")
    return actor.tenant_id
