"""Cedar entities: typed uids and attributes, and how facts become entities.

Everything that reaches Cedar passes through `to_cedar`, so attribute
encoding (entity references, sets, IP addresses) is decided in one place and
the engine never builds entity JSON by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Final, TypeAlias

from qplane.domain.tenancy import PrincipalKind
from qplane.policy.facts import (
    ArtifactFacts,
    BackendFacts,
    GroupFacts,
    JobFacts,
    PlatformFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
    WorkerFacts,
)

NAMESPACE: Final = "Qplane"

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
IpValue: TypeAlias = IPv4Address | IPv6Address | IPv4Network | IPv6Network


class EntityType(StrEnum):
    TENANT = "Tenant"
    PROJECT = "Project"
    GROUP = "Group"
    USER = "User"
    SERVICE_PRINCIPAL = "ServicePrincipal"
    OPERATOR = "Operator"
    PLATFORM = "Platform"
    BACKEND = "Backend"
    WORKER = "Worker"
    JOB = "Job"
    ARTIFACT = "Artifact"
    ACTION = "Action"

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE}::{self.value}"


@dataclass(frozen=True, slots=True, order=True)
class EntityRef:
    """A Cedar entity uid inside qplane's namespace."""

    type: EntityType
    id: str

    @classmethod
    def from_cedar(cls, value: Mapping[str, JsonValue]) -> EntityRef:
        """Read ``{"type": "Qplane::User", "id": …}``; raise ValueError for anything else."""
        qualified, uid = value.get("type"), value.get("id")
        if not isinstance(qualified, str) or not isinstance(uid, str):
            raise ValueError(f"not an entity uid: {value!r}")
        namespace, _, name = qualified.rpartition("::")
        if namespace != NAMESPACE:
            raise ValueError(f"{qualified} is not a {NAMESPACE} entity type")
        return cls(EntityType(name), uid)

    def to_cedar(self) -> dict[str, JsonValue]:
        return {"type": self.type.qualified, "id": self.id}

    def __str__(self) -> str:
        return f"{self.type.qualified}::{json.dumps(self.id)}"


AttrValue: TypeAlias = (
    str
    | int
    | bool
    | EntityRef
    | IpValue
    | frozenset[str]
    | frozenset[EntityRef]
    | Mapping[str, "AttrValue"]
)


@dataclass(frozen=True, slots=True)
class Entity:
    uid: EntityRef
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    parents: frozenset[EntityRef] = frozenset()

    def to_cedar(self) -> dict[str, JsonValue]:
        return {
            "uid": self.uid.to_cedar(),
            "attrs": {name: to_cedar(value) for name, value in sorted(self.attrs.items())},
            "parents": [parent.to_cedar() for parent in sorted(self.parents)],
        }


def to_cedar(value: AttrValue) -> JsonValue:
    """Encode one attribute value in Cedar's entity JSON.

    Sets are sorted so that equal entities always serialise identically.
    """
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, EntityRef):
        return {"__entity": value.to_cedar()}
    if isinstance(value, IPv4Address | IPv6Address | IPv4Network | IPv6Network):
        return {"__extn": {"fn": "ip", "arg": str(value)}}
    if isinstance(value, frozenset):
        members: list[AttrValue] = sorted(value, key=str)
        return [to_cedar(member) for member in members]
    return {name: to_cedar(item) for name, item in sorted(value.items())}


def tenant_ref(tenant_id: str) -> EntityRef:
    return EntityRef(EntityType.TENANT, tenant_id)


_PRINCIPAL_TYPES: Final = {
    PrincipalKind.USER: EntityType.USER,
    PrincipalKind.SERVICE: EntityType.SERVICE_PRINCIPAL,
    PrincipalKind.OPERATOR: EntityType.OPERATOR,
}


def tenant_entity(tenant: TenantFacts) -> Entity:
    attrs = {"name": tenant.name, "timezone": tenant.timezone, "region": tenant.region}
    return Entity(tenant_ref(tenant.id), attrs)


def project_entity(project: ProjectFacts) -> Entity:
    ref = EntityRef(EntityType.PROJECT, project.id)
    tenant = tenant_ref(project.tenant.id)
    return Entity(ref, {"tenant": tenant, "name": project.name}, frozenset({tenant}))


def group_entity(group: GroupFacts) -> Entity:
    parents = frozenset(EntityRef(EntityType.GROUP, gid) for gid in group.parent_ids)
    return Entity(
        EntityRef(EntityType.GROUP, group.id), {"tenant": tenant_ref(group.tenant_id)}, parents
    )


def principal_entity(principal: PrincipalFacts) -> Entity:
    """The principal, with its projects and groups as parents (membership is ``in``)."""
    ref = EntityRef(_PRINCIPAL_TYPES[principal.kind], principal.id)
    if principal.tenant is None:
        return Entity(ref)
    attrs: dict[str, AttrValue] = {
        "tenant": tenant_ref(principal.tenant.id),
        "roles": frozenset(principal.roles),
    }
    if principal.kind is PrincipalKind.USER:
        attrs["email"] = principal.email
    parents = {EntityRef(EntityType.PROJECT, pid) for pid in principal.project_ids}
    parents |= {EntityRef(EntityType.GROUP, group.id) for group in principal.groups}
    return Entity(ref, attrs, frozenset(parents))


def worker_entity(worker: WorkerFacts) -> Entity:
    backends = frozenset(EntityRef(EntityType.BACKEND, name) for name in worker.backends)
    return Entity(EntityRef(EntityType.WORKER, worker.id), {"backends": backends})


def backend_entity(backend: BackendFacts) -> Entity:
    attrs: dict[str, AttrValue] = {
        "kind": backend.kind.value,
        "region": backend.region,
        "production": backend.production,
        "max_qubits": backend.max_qubits,
    }
    return Entity(EntityRef(EntityType.BACKEND, backend.name), attrs)


def job_entity(job: JobFacts) -> Entity:
    project = EntityRef(EntityType.PROJECT, job.project.id)
    attrs: dict[str, AttrValue] = {
        "tenant": tenant_ref(job.project.tenant.id),
        "project": project,
        "owner": job.owner_id,
        "backend": EntityRef(EntityType.BACKEND, job.backend.name),
        "classification": job.classification,
        "qubits": job.qubits,
        "shots": job.shots,
    }
    return Entity(EntityRef(EntityType.JOB, job.id), attrs, frozenset({project}))


def artifact_entity(artifact: ArtifactFacts) -> Entity:
    job = EntityRef(EntityType.JOB, artifact.job.id)
    attrs: dict[str, AttrValue] = {
        "tenant": tenant_ref(artifact.job.project.tenant.id),
        "project": EntityRef(EntityType.PROJECT, artifact.job.project.id),
        "job": job,
        "kind": artifact.kind.value,
        "classification": artifact.job.classification,
    }
    return Entity(EntityRef(EntityType.ARTIFACT, artifact.id), attrs, frozenset({job}))


def platform_entity(platform: PlatformFacts) -> Entity:
    return Entity(EntityRef(EntityType.PLATFORM, platform.id))
