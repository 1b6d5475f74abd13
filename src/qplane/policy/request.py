"""An authorisation request, and the builder that makes one from facts.

`AccessRequest` is what the engine evaluates: a principal entity, an action,
a resource entity, the other entities a policy may reach (the job's backend
and project, the principal's groups), and the context. `access_request`
builds it from plain facts so that every caller gets the same entity slice
and the same tenant-local clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import ip_address

from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts, LocalTime, RequestContext
from qplane.policy.entities import (
    Entity,
    EntityRef,
    EntityType,
    artifact_entity,
    backend_entity,
    group_entity,
    job_entity,
    platform_entity,
    principal_entity,
    project_entity,
    tenant_entity,
    worker_entity,
)
from qplane.policy.facts import (
    ArtifactFacts,
    BackendFacts,
    JobFacts,
    PlatformFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
    WorkerFacts,
)

PrincipalLike = PrincipalFacts | WorkerFacts
ResourceLike = (
    TenantFacts
    | ProjectFacts
    | PrincipalFacts
    | WorkerFacts
    | BackendFacts
    | JobFacts
    | ArtifactFacts
    | PlatformFacts
)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    principal: Entity
    action: Action
    resource: Entity
    context: RequestContext
    #: Further entities policies may reach through attributes or ``in``.
    entities: tuple[Entity, ...] = ()

    @property
    def governing_tenant(self) -> str | None:
        """The tenant whose policies govern this request: the resource's, else the caller's.

        Derived from the entities themselves, so a caller cannot evaluate one
        tenant's request under another tenant's policies by mislabelling it.
        """
        for entity in (self.resource, self.principal):
            if entity.uid.type is EntityType.TENANT:
                return entity.uid.id
            tenant = entity.attrs.get("tenant")
            if isinstance(tenant, EntityRef):
                return tenant.id
        return None


def access_request(
    principal: PrincipalLike,
    action: Action,
    resource: ResourceLike,
    *,
    auth: AuthFacts,
    at: datetime,
    break_glass: bool = False,
) -> AccessRequest:
    """Build the request for *principal* doing *action* on *resource* at *at*.

    The clock is read in the governing tenant's time zone (UTC when no tenant
    is involved), and a job's facts are repeated in the context so policies
    can test them the same way for jobs and their artifacts.
    """
    tenant = tenant_of(resource) or tenant_of(principal)
    context = RequestContext(
        mfa=auth.mfa,
        auth_age_s=auth.auth_age_s,
        step_up_max_age_s=auth.step_up_max_age_s,
        now=LocalTime.at(at, tenant.timezone if tenant else "UTC"),
        break_glass=break_glass,
        region=auth.region,
        source_ip=ip_address(auth.source_ip) if auth.source_ip else None,
        credential_project=auth.credential_project,
    )
    job = _job_of(resource)
    if job is not None:
        context = replace(
            context,
            classification=job.classification,
            backend_kind=job.backend.kind.value,
            backend_region=job.backend.region,
            qubits=job.qubits,
            shots=job.shots,
        )
    principal_side = _entities_of(principal)
    resource_side = _entities_of(resource)
    return AccessRequest(
        principal=principal_side[0],
        action=action,
        resource=resource_side[0],
        context=context,
        entities=principal_side[1:] + resource_side[1:],
    )


def tenant_of(subject: ResourceLike) -> TenantFacts | None:
    """The tenant *subject* belongs to (None for platform-wide objects)."""
    match subject:
        case TenantFacts():
            return subject
        case ProjectFacts():
            return subject.tenant
        case PrincipalFacts():
            return subject.tenant
        case JobFacts():
            return subject.project.tenant
        case ArtifactFacts():
            return subject.job.project.tenant
        case _:
            return None


def _job_of(resource: ResourceLike) -> JobFacts | None:
    if isinstance(resource, JobFacts):
        return resource
    if isinstance(resource, ArtifactFacts):
        return resource.job
    return None


def _entities_of(subject: ResourceLike) -> tuple[Entity, ...]:
    """The subject's own entity first, then everything its attributes point at."""
    match subject:
        case TenantFacts():
            return (tenant_entity(subject),)
        case ProjectFacts():
            return (project_entity(subject), tenant_entity(subject.tenant))
        case PrincipalFacts():
            tenant = (tenant_entity(subject.tenant),) if subject.tenant else ()
            groups = tuple(group_entity(group) for group in subject.groups)
            return (principal_entity(subject), *tenant, *groups)
        case WorkerFacts():
            return (worker_entity(subject),)
        case BackendFacts():
            return (backend_entity(subject),)
        case JobFacts():
            return (job_entity(subject), backend_entity(subject.backend), *_project_side(subject))
        case ArtifactFacts():
            return (artifact_entity(subject), *_entities_of(subject.job))
        case PlatformFacts():
            return (platform_entity(subject),)


def _project_side(job: JobFacts) -> tuple[Entity, ...]:
    return (project_entity(job.project), tenant_entity(job.project.tenant))
