"""Administration: tenants and workers (operators); projects and users (operators, admins)."""

from __future__ import annotations

from fastapi import APIRouter, status

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import (
    GroupMemberOut,
    GroupOut,
    PrincipalOut,
    ProjectCreate,
    ProjectMemberOut,
    ProjectOut,
    TenantCreate,
    TenantOut,
    TenantSettings,
    UserCreate,
    WorkerOut,
    WorkerRegister,
)

router = APIRouter(prefix="/v1")


@router.post("/tenants", status_code=status.HTTP_201_CREATED, tags=["tenants"])
def create_tenant(body: TenantCreate, actor: ActorDep, qp: PlatformDep) -> TenantOut:
    created = qp.tenancy.create_tenant(
        actor, body.name, body.max_running_jobs, timezone=body.timezone, region=body.region
    )
    return TenantOut.of(created)


@router.patch("/tenants/{tenant_id}", tags=["tenants"])
def update_tenant(
    tenant_id: str, body: TenantSettings, actor: ActorDep, qp: PlatformDep
) -> TenantOut:
    """Change a tenant's time zone or data region (operator, recent MFA)."""
    updated = qp.tenancy.update_tenant_settings(
        actor, tenant_id, timezone=body.timezone, region=body.region
    )
    return TenantOut.of(updated)


@router.get("/tenants", tags=["tenants"])
def list_tenants(actor: ActorDep, qp: PlatformDep) -> list[TenantOut]:
    return [TenantOut.of(t) for t in qp.tenancy.list_tenants(actor)]


@router.post(
    "/tenants/{tenant_id}/projects", status_code=status.HTTP_201_CREATED, tags=["projects"]
)
def create_project(
    tenant_id: str, body: ProjectCreate, actor: ActorDep, qp: PlatformDep
) -> ProjectOut:
    return ProjectOut.of(qp.tenancy.create_project(actor, tenant_id, body.name))


@router.get("/tenants/{tenant_id}/projects", tags=["projects"])
def list_projects(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[ProjectOut]:
    return [ProjectOut.of(p) for p in qp.tenancy.list_projects(actor, tenant_id)]


_MEMBERS = "/tenants/{tenant_id}/projects/{project_id}/members"


@router.get(_MEMBERS, tags=["projects"])
def list_members(
    tenant_id: str, project_id: str, actor: ActorDep, qp: PlatformDep
) -> list[ProjectMemberOut]:
    return [ProjectMemberOut.of(m) for m in qp.tenancy.list_members(actor, tenant_id, project_id)]


@router.put(_MEMBERS + "/{principal_id}", tags=["projects"])
def add_member(
    tenant_id: str, project_id: str, principal_id: str, actor: ActorDep, qp: PlatformDep
) -> ProjectMemberOut:
    """Make a user or service principal of the tenant a member of the project (idempotent)."""
    member = qp.tenancy.add_member(actor, tenant_id, project_id, principal_id)
    return ProjectMemberOut.of(member)


@router.delete(
    _MEMBERS + "/{principal_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["projects"]
)
def remove_member(
    tenant_id: str, project_id: str, principal_id: str, actor: ActorDep, qp: PlatformDep
) -> None:
    qp.tenancy.remove_member(actor, tenant_id, project_id, principal_id)


@router.get("/tenants/{tenant_id}/groups", tags=["groups"])
def list_groups(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[GroupOut]:
    groups = qp.tenancy.list_groups(actor, tenant_id)
    return [
        GroupOut(name=name, members=[GroupMemberOut.of(m) for m in members])
        for name, members in groups.items()
    ]


@router.put("/tenants/{tenant_id}/groups/{group}/members/{principal_id}", tags=["groups"])
def add_group_member(
    tenant_id: str, group: str, principal_id: str, actor: ActorDep, qp: PlatformDep
) -> GroupMemberOut:
    """Put a principal in a tenant group (tenant admin, recent MFA); idempotent."""
    return GroupMemberOut.of(qp.tenancy.add_group_member(actor, tenant_id, group, principal_id))


@router.delete(
    "/tenants/{tenant_id}/groups/{group}/members/{principal_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["groups"],
)
def remove_group_member(
    tenant_id: str, group: str, principal_id: str, actor: ActorDep, qp: PlatformDep
) -> None:
    qp.tenancy.remove_group_member(actor, tenant_id, group, principal_id)


@router.post("/tenants/{tenant_id}/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(tenant_id: str, body: UserCreate, actor: ActorDep, qp: PlatformDep) -> PrincipalOut:
    created = qp.tenancy.create_user(
        actor, tenant_id, body.email, body.password, body.roles, body.projects
    )
    return PrincipalOut.of(created)


@router.get("/tenants/{tenant_id}/users", tags=["users"])
def list_users(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[PrincipalOut]:
    return [PrincipalOut.of(p) for p in qp.tenancy.list_users(actor, tenant_id)]


@router.get("/me", tags=["users"])
def whoami(actor: ActorDep) -> dict[str, object]:
    return {
        "id": actor.principal_id,
        "kind": actor.kind.value,
        "tenant_id": actor.tenant_id,
        "roles": sorted(r.value for r in actor.roles),
        "projects": sorted(actor.member_of),
        "groups": sorted(actor.groups),
    }


@router.post("/workers", status_code=status.HTTP_201_CREATED, tags=["workers"])
def register_worker(body: WorkerRegister, actor: ActorDep, qp: PlatformDep) -> WorkerOut:
    worker = qp.workers.register(
        actor, body.name, body.public_jwk, body.backends, body.region or None
    )
    return WorkerOut(
        id=worker.id, name=worker.name, backends=list(worker.backends), region=worker.region
    )
