"""The relational schema of qplane, as SQLAlchemy declarative models.

These classes never leave `qplane.store`: repositories convert rows to the
frozen domain dataclasses at the boundary. The schema itself carries the
tenant rule where it can: a job's project, an artifact's job and a lease's
job are referenced by ``(tenant_id, id)`` pairs, so a row can never point
at another tenant's object even if a caller forgets a filter.

The migration in ``migrations/versions`` is written by hand to match this
module; ``tests/store`` checks that the two agree on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qplane.store._types import UTCDateTime

#: Deterministic constraint names, so migrations can refer to them on both databases.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(40)  # "ten_" + 32 hex digits, with room for a longer prefix
NAME = String(63)  # DNS-label-like slugs
HASH = String(128)  # hex or prefixed digests of audit entries


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    max_running_jobs: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    region: Mapped[str] = mapped_column(String(32), server_default="")
    plan: Mapped[str] = mapped_column(String(32), server_default="standard")
    allowed_regions: Mapped[list[str]] = mapped_column(JSON, server_default="[]")


class ProjectRow(Base):
    __tablename__ = "projects"
    # (tenant_id, id) is unique so jobs can reference a project *within* a tenant.
    __table_args__ = (UniqueConstraint("tenant_id", "name"), UniqueConstraint("tenant_id", "id"))

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime]
    allowed_regions: Mapped[list[str]] = mapped_column(JSON, server_default="[]")


class PrincipalRow(Base):
    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"]),
        UniqueConstraint("tenant_id", "id"),
        # A project's job list, newest first.
        Index("ix_jobs_tenant_project_created", "tenant_id", "project_id", "created_at"),
        # The scheduler's lookup: queued jobs per backend and tenant, oldest first.
        Index(
            "ix_jobs_state_backend_tenant_created", "state", "backend", "tenant_id", "created_at"
        ),
        # Usage: a tenant's shots per day and device time per month.
        Index("ix_jobs_tenant_dispatched", "tenant_id", "dispatched_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    project_id: Mapped[str] = mapped_column(ID)
    owner_id: Mapped[str] = mapped_column(ID)
    backend: Mapped[str] = mapped_column(String(64))
    shots: Mapped[int] = mapped_column(Integer)
    source_format: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(Integer)
    qubits: Mapped[int | None] = mapped_column(Integer)
    depth: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    classification: Mapped[str] = mapped_column(String(16), server_default="internal")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    region: Mapped[str] = mapped_column(String(32), server_default="")
    priority: Mapped[int] = mapped_column(Integer, server_default="5")
    time_limit_s: Mapped[int] = mapped_column(Integer, server_default="600")
    estimated_s: Mapped[float | None] = mapped_column(Float)
    device_seconds: Mapped[float | None] = mapped_column(Float)
    calibration_id: Mapped[str | None] = mapped_column(ID)
    dispatched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]


class JobTransitionRow(Base):
    """One step of a job's history; `Job.history` is rebuilt from these in ``seq`` order."""

    __tablename__ = "job_transitions"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "job_id"], ["jobs.tenant_id", "jobs.id"]),)

    job_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class ArtifactRow(Base):
    """A sealed (encrypted) circuit or result; nothing here is plaintext."""

    __tablename__ = "artifacts"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "job_id"], ["jobs.tenant_id", "jobs.id"]),)

    job_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    kek_ring: Mapped[str] = mapped_column(String(160))
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    #: Legacy rows keep their ciphertext here; new ones in their region's blob store.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    region: Mapped[str | None] = mapped_column(String(32))
    #: SHA-256 (hex) of the blob, checked on every read.
    blob_digest: Mapped[str | None] = mapped_column(String(64))


class WorkerRow(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    public_jwk: Mapped[str] = mapped_column(Text)
    backends: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean)
    region: Mapped[str] = mapped_column(String(32), server_default="")


class LeaseRow(Base):
    __tablename__ = "leases"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "job_id"], ["jobs.tenant_id", "jobs.id"]),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    job_id: Mapped[str] = mapped_column(ID, unique=True)  # one live lease per job
    tenant_id: Mapped[str] = mapped_column(ID)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SchedulerStateRow(Base):
    """A single row (id 1, created by the migration) whose lock makes schedulers take turns."""

    __tablename__ = "scheduler_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cursor_tenant_id: Mapped[str | None] = mapped_column(ID)


# Tables of later capabilities live in modules of their own; importing them
# here registers them on `Base.metadata` (migrations and tests compare against it).
from qplane.store import (  # noqa: E402, F401
    models_audit,
    models_browser,
    models_keys,
    models_membership,
    models_mfa_device,
    models_oidc,
    models_policy,
    models_saml,
    models_scheduling,
    models_sessions,
    models_workload,
)
