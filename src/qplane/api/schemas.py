"""The API's wire format. Unknown fields are refused (deny by default)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qplane.domain.backends import BackendInfo
from qplane.domain.jobs import (
    MAX_EXECUTION_LOG_BYTES,
    Classification,
    Job,
    JobState,
    SourceFormat,
)
from qplane.domain.scheduling import coarsen
from qplane.domain.tenancy import GroupMember, Principal, Project, ProjectMember, Tenant


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None


class TenantCreate(Strict):
    name: str = Field(max_length=63)
    max_running_jobs: int = 4
    timezone: str = Field(default="UTC", max_length=64)
    region: str = Field(default="", max_length=32)


class TenantSettings(Strict):
    """Attributes policies decide on; omitted fields keep their value."""

    timezone: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=32)


class TenantOut(BaseModel):
    id: str
    name: str
    max_running_jobs: int
    created_at: datetime
    timezone: str
    region: str

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            id=tenant.id,
            name=tenant.name,
            max_running_jobs=tenant.max_running_jobs,
            created_at=tenant.created_at,
            timezone=tenant.timezone,
            region=tenant.region,
        )


class ProjectCreate(Strict):
    name: str = Field(max_length=63)


class ProjectOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            tenant_id=project.tenant_id,
            name=project.name,
            created_at=project.created_at,
        )


class UserCreate(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    roles: list[str] = Field(default_factory=lambda: ["member"], max_length=8)
    #: Projects the user becomes a member of (tenant admins reach all anyway).
    projects: list[str] = Field(default_factory=list, max_length=100)


class ProjectMemberOut(BaseModel):
    project_id: str
    principal_id: str
    source: str
    created_at: datetime

    @classmethod
    def of(cls, member: ProjectMember) -> ProjectMemberOut:
        return cls(
            project_id=member.project_id,
            principal_id=member.principal_id,
            source=member.source,
            created_at=member.created_at,
        )


class GroupOut(BaseModel):
    name: str
    members: list[GroupMemberOut]


class GroupMemberOut(BaseModel):
    principal_id: str
    source: str
    created_at: datetime

    @classmethod
    def of(cls, member: GroupMember) -> GroupMemberOut:
        return cls(
            principal_id=member.principal_id, source=member.source, created_at=member.created_at
        )


class PrincipalOut(BaseModel):
    id: str
    kind: str
    tenant_id: str | None
    email: str
    roles: list[str]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalOut:
        return cls(
            id=principal.id,
            kind=principal.kind.value,
            tenant_id=principal.tenant_id,
            email=principal.email,
            roles=sorted(r.value for r in principal.roles),
        )


class JobSubmit(Strict):
    project_id: str = Field(max_length=64)
    source: str = Field(description="OpenQASM 2 or 3 program text")
    format: SourceFormat = SourceFormat.QASM2
    backend: str = Field(max_length=64)
    shots: int = 1024
    tags: list[str] = Field(default_factory=list)
    seed: int | None = None
    #: The data classification of the circuit; policies may route on it.
    classification: Classification = Classification.INTERNAL
    #: Orders the tenant's own jobs on a device (0 to 9, higher first); never others'.
    priority: int = 5
    #: The run's wall-clock limit in seconds; null: the platform's default.
    time_limit_s: int | None = None


class TransitionOut(BaseModel):
    state: JobState
    at: datetime
    reason: str | None


class JobOut(BaseModel):
    id: str
    tenant_id: str
    project_id: str
    owner_id: str
    backend: str
    shots: int
    format: SourceFormat
    state: JobState
    tags: list[str]
    seed: int | None
    qubits: int | None
    depth: int | None
    reason: str | None
    attempts: int
    classification: Classification
    region: str
    priority: int
    time_limit_s: int
    calibration_id: str | None
    device_seconds: float | None
    created_at: datetime
    updated_at: datetime
    history: list[TransitionOut]

    @classmethod
    def of(cls, job: Job, granularity_s: float) -> JobOut:
        """The job as its tenant sees it: state-change times rounded down to *granularity_s*.

        Exact times of a job's steps would be a fine clock on the shared
        device's other work (`qplane.domain.scheduling.coarsen`); the
        submission time is the tenant's own and stays exact.
        """
        history = [
            TransitionOut(state=t.state, at=coarsen(t.at, granularity_s), reason=t.reason)
            for t in job.history
        ]
        return cls(
            id=job.id,
            tenant_id=job.tenant_id,
            project_id=job.project_id,
            owner_id=job.owner_id,
            backend=job.backend,
            shots=job.shots,
            format=job.source_format,
            state=job.state,
            tags=list(job.tags),
            seed=job.seed,
            qubits=job.qubits,
            depth=job.depth,
            reason=job.reason,
            attempts=job.attempts,
            classification=job.classification,
            region=job.region,
            priority=job.priority,
            time_limit_s=job.time_limit_s,
            calibration_id=job.calibration_id,
            device_seconds=job.device_seconds,
            created_at=job.created_at,
            updated_at=coarsen(job.updated_at, granularity_s),
            history=history,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class ResultOut(BaseModel):
    job_id: str
    backend: str
    shots: int
    seed: int
    counts: dict[str, int]
    execution_time_s: float
    metadata: dict[str, Any]


class BackendOut(BaseModel):
    name: str
    kind: str
    region: str
    description: str
    max_qubits: int
    max_depth: int
    min_shots: int
    max_shots: int
    basis_gates: list[str]
    #: Connectivity family: ``all-to-all``, ``heavy-hex``, ``linear``.
    topology: str
    max_circuits: int
    #: One job at a time: no two tenants' circuits ever share the device.
    exclusive: bool
    #: What the device executes; submitted circuits are transpiled to these.
    native_gates: list[str]

    @classmethod
    def of(cls, info: BackendInfo) -> BackendOut:
        lim = info.limits
        return cls(
            name=info.name,
            kind=info.kind.value,
            region=info.region,
            description=info.description,
            max_qubits=lim.max_qubits,
            max_depth=lim.max_depth,
            min_shots=lim.min_shots,
            max_shots=lim.max_shots,
            basis_gates=sorted(lim.basis_gates),
            topology=info.topology,
            max_circuits=info.max_circuits,
            exclusive=info.exclusive,
            native_gates=sorted(info.native_gates),
        )


class WorkerRegister(Strict):
    name: str = Field(max_length=63)
    public_jwk: str = Field(max_length=2048)
    backends: list[str] = Field(max_length=64)
    #: The region the worker runs in; every backend it serves must be there.
    region: str = Field(default="", max_length=32)


class WorkerOut(BaseModel):
    id: str
    name: str
    backends: list[str]
    region: str = ""


class WorkerTokenRequest(Strict):
    worker_id: str = Field(max_length=64)
    assertion: str = Field(max_length=4096)


class LeaseRequest(Strict):
    backends: list[str] = Field(default_factory=list, max_length=64)
    #: Take up to this many jobs at once: always one tenant's, on one device (a batch).
    max_jobs: int = Field(default=1, ge=1, le=100)


class LeaseOut(BaseModel):
    lease_id: str
    job_id: str
    expires_at: datetime
    backend: str
    shots: int
    seed: int
    format: SourceFormat
    source: str
    #: Stop the run (and fail the job) after this many seconds.
    time_limit_s: int = 600
    #: The device calibration (JSON record) to run under; None for simulators.
    calibration: str | None = None
    calibration_id: str | None = None
    #: More leases of the same batch: the same tenant, on the same device.
    batch: list[LeaseOut] = Field(default_factory=list)


class HeartbeatOut(BaseModel):
    keep_running: bool
    expires_at: str


class ResultReport(Strict):
    result: str = Field(max_length=16 * 1024 * 1024, description="RunResult JSON")
    signature: str = Field(max_length=4096)
    log: str | None = Field(
        default=None, max_length=MAX_EXECUTION_LOG_BYTES, description="The execution log"
    )


class FailureReport(Strict):
    reason: str = Field(max_length=4000)
    log: str | None = Field(
        default=None, max_length=MAX_EXECUTION_LOG_BYTES, description="The execution log"
    )


class JobLogOut(BaseModel):
    job_id: str
    log: str
