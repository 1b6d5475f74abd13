"""Facts for the decision point, built from what the services load anyway.

Each function reads at most the rows a service needs for its own work (the
project, the tenant), so a decision never loads a tenant's whole entity set.
"""

from __future__ import annotations

from qplane.backends.catalogue import BackendCatalogue
from qplane.domain.backends import BackendInfo, BackendKind
from qplane.domain.errors import ValidationFailed
from qplane.domain.jobs import Job
from qplane.domain.ports import UnitOfWork
from qplane.policy.authorizer import tenant_facts
from qplane.policy.facts import (
    ArtifactFacts,
    ArtifactKind,
    BackendFacts,
    JobFacts,
    ProjectFacts,
    TenantFacts,
)


def tenant(uow: UnitOfWork, tenant_id: str) -> TenantFacts:
    return tenant_facts(uow.tenants.get(tenant_id))


def project(uow: UnitOfWork, tenant_id: str, project_id: str) -> ProjectFacts:
    """The project's facts; `NotFound` when it is not the tenant's."""
    found = uow.projects.get(tenant_id, project_id)
    return ProjectFacts(found.id, tenant(uow, tenant_id), found.name)


def backend(info: BackendInfo) -> BackendFacts:
    return BackendFacts(
        name=info.name,
        kind=info.kind,
        region=info.region,
        production=info.production,
        max_qubits=info.limits.max_qubits,
    )


def backend_named(catalogue: BackendCatalogue | None, name: str) -> BackendFacts:
    """A backend's facts; an unknown name is judged as a production QPU, the strictest case.

    The job naming it is rejected anyway; the decision only settles whether
    the caller may have that rejection recorded.
    """
    if catalogue is not None:
        try:
            return backend(catalogue.get(name).info)
        except ValidationFailed:
            pass
    return BackendFacts(name[:64], BackendKind.QPU, "", True, 0)


def job(catalogue: BackendCatalogue | None, found: Job, in_project: ProjectFacts) -> JobFacts:
    return JobFacts(
        id=found.id,
        project=in_project,
        owner_id=found.owner_id,
        backend=backend_named(catalogue, found.backend),
        qubits=found.qubits or 0,
        shots=found.shots,
        classification=found.classification.value,
    )


def job_in(uow: UnitOfWork, catalogue: BackendCatalogue | None, found: Job) -> JobFacts:
    return job(catalogue, found, project(uow, found.tenant_id, found.project_id))


def artifact(of_job: JobFacts, kind: ArtifactKind) -> ArtifactFacts:
    return ArtifactFacts(f"{of_job.id}/{kind.value}", of_job, kind)
