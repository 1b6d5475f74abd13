"""Administration: tenants and workers (operators); projects and users (operators, admins)."""

from __future__ import annotations

from fastapi import APIRouter, status

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import (
    PrincipalOut,
    ProjectCreate,
    ProjectOut,
    TenantCreate,
    TenantOut,
    UserCreate,
    WorkerOut,
    WorkerRegister,
)

router = APIRouter(prefix="/v1")


@router.post("/tenants", status_code=status.HTTP_201_CREATED, tags=["tenants"])
def create_tenant(body: TenantCreate, actor: ActorDep, qp: PlatformDep) -> TenantOut:
    return TenantOut.of(qp.tenancy.create_tenant(actor, body.name, body.max_running_jobs))


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


@router.post("/tenants/{tenant_id}/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(tenant_id: str, body: UserCreate, actor: ActorDep, qp: PlatformDep) -> PrincipalOut:
    created = qp.tenancy.create_user(actor, tenant_id, body.email, body.password, body.roles)
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
    }


@router.post("/workers", status_code=status.HTTP_201_CREATED, tags=["workers"])
def register_worker(body: WorkerRegister, actor: ActorDep, qp: PlatformDep) -> WorkerOut:
    worker = qp.workers.register(actor, body.name, body.public_jwk, body.backends)
    return WorkerOut(id=worker.id, name=worker.name, backends=list(worker.backends))
