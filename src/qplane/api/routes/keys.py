"""The key hierarchy over HTTP: list, project rings, rotate, rewrap, retire, crypto-shred."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from qplane.api.deps import ActorDep, PlatformDep
from qplane.api.schemas import Strict
from qplane.broker.keys import RingView

router = APIRouter(tags=["keys"])


class VersionOut(BaseModel):
    version: int
    state: str
    provider: str
    created_at: datetime
    retired_at: datetime | None


class RingOut(BaseModel):
    name: str
    tenant_id: str | None
    project_id: str | None
    environment: str
    provider: str
    state: str
    min_decrypt_version: int
    pending_rewrap: int
    versions: list[VersionOut]


class CustomerKeyIn(Strict):
    """A key the tenant holds in its own PKCS#11 token; the PIN is named, never sent."""

    module: str = Field(min_length=1, max_length=200)
    token_label: str = Field(min_length=1, max_length=32)
    key_label: str = Field(min_length=1, max_length=200)
    #: The PIN file the operator installed for this tenant on the server
    #: (``<pkcs11_customer_pin_dir>/<tenant id>/<pin_file>``).
    pin_file: str = Field(min_length=1, max_length=64)


class RotateIn(Strict):
    project_id: str | None = Field(default=None, max_length=40)
    customer_key: CustomerKeyIn | None = None


class RewrapIn(Strict):
    project_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=500, ge=1, le=10_000)


class RewrapOut(BaseModel):
    rewrapped: int


class RetireIn(Strict):
    project_id: str | None = Field(default=None, max_length=40)
    below_version: int = Field(ge=1, le=2**31 - 1)


class ShredIn(Strict):
    project_id: str | None = Field(default=None, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class ShredRequestOut(BaseModel):
    id: str
    tenant_id: str
    ring: str
    requested_by: str
    requested_at: datetime
    reason: str
    state: str


class ShredOut(BaseModel):
    ring: str
    destroyed_versions: list[int]
    unrecoverable_values: int
    at: datetime


def _ring(view: RingView) -> RingOut:
    return RingOut(
        name=view.name,
        tenant_id=view.tenant_id,
        project_id=view.project_id,
        environment=view.environment,
        provider=view.provider,
        state=view.state.value,
        min_decrypt_version=view.min_decrypt_version,
        pending_rewrap=view.pending_rewrap,
        versions=[
            VersionOut(
                version=v.version,
                state=v.state.value,
                provider=v.provider,
                created_at=v.created_at,
                retired_at=v.retired_at,
            )
            for v in view.versions
        ],
    )


@router.get("/v1/tenants/{tenant_id}/keys")
def list_keys(tenant_id: str, actor: ActorDep, qp: PlatformDep) -> list[RingOut]:
    """The tenant's key rings and versions (tenant admins, and operators): never key material."""
    return [_ring(view) for view in qp.keys.rings(actor, tenant_id)]


@router.post("/v1/tenants/{tenant_id}/keys/projects/{project_id}", status_code=201)
def create_project_ring(
    tenant_id: str, project_id: str, actor: ActorDep, qp: PlatformDep
) -> RingOut:
    """Give a project a key ring of its own (tenant admin, recent MFA)."""
    return _ring(qp.keys.create_project_ring(actor, tenant_id, project_id))


@router.post("/v1/tenants/{tenant_id}/keys/rotate")
def rotate(tenant_id: str, body: RotateIn, actor: ActorDep, qp: PlatformDep) -> RingOut:
    """A new KEK version; with ``customer_key`` it lives in the tenant's own token."""
    customer = None if body.customer_key is None else body.customer_key.model_dump()
    return _ring(qp.keys.rotate(actor, tenant_id, body.project_id, customer_key=customer))


@router.post("/v1/tenants/{tenant_id}/keys/rewrap")
def rewrap(tenant_id: str, body: RewrapIn, actor: ActorDep, qp: PlatformDep) -> RewrapOut:
    """Move data keys to the newest version now, without decrypting any payload."""
    return RewrapOut(rewrapped=qp.keys.rewrap(actor, tenant_id, body.project_id, limit=body.limit))


@router.post("/v1/tenants/{tenant_id}/keys/retire")
def retire(tenant_id: str, body: RetireIn, actor: ActorDep, qp: PlatformDep) -> RingOut:
    """Refuse every version below ``below_version`` from now on, and erase them."""
    return _ring(qp.keys.retire(actor, tenant_id, body.below_version, body.project_id))


@router.post("/v1/tenants/{tenant_id}/keys/shred-requests", status_code=status.HTTP_201_CREATED)
def request_shred(
    tenant_id: str, body: ShredIn, actor: ActorDep, qp: PlatformDep
) -> ShredRequestOut:
    """An operator asks to crypto-shred a ring; a different operator must approve."""
    request = qp.keys.request_shred(actor, tenant_id, body.project_id, body.reason)
    return ShredRequestOut(
        id=request.id,
        tenant_id=request.tenant_id,
        ring=request.ring,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        reason=request.reason,
        state=request.state.value,
    )


@router.post("/v1/key-shred-requests/{request_id}/approve")
def approve_shred(request_id: str, actor: ActorDep, qp: PlatformDep) -> ShredOut:
    """The second operator approves: every KEK of the ring is destroyed, with evidence audited."""
    evidence = qp.keys.approve_shred(actor, request_id)
    return ShredOut(
        ring=evidence.ring,
        destroyed_versions=list(evidence.versions),
        unrecoverable_values=evidence.sealed_values,
        at=evidence.at,
    )
