"""Ports: the persistence interfaces the services depend on.

The store package implements them for SQLite and PostgreSQL; services only
see these protocols. Every method that touches tenant data takes the tenant
id, and answers `NotFound` for another tenant's object exactly as for a
missing one. The few unscoped methods are named for the operator or
scheduler path that needs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from qplane.domain.audit import AuditEntry, Outcome
from qplane.domain.jobs import Job, JobState
from qplane.domain.tenancy import Principal, Project, Tenant
from qplane.domain.workers import JobLease, WorkerRecord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SealedArtifact:
    """An encrypted artifact as stored: nothing here is plaintext or a usable key."""

    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...
    def get(self, tenant_id: str) -> Tenant: ...
    def by_name(self, name: str) -> Tenant | None: ...
    def list_all(self) -> list[Tenant]:
        """Operator path only."""
        ...


class ProjectRepository(Protocol):
    def add(self, project: Project) -> None: ...
    def get(self, tenant_id: str, project_id: str) -> Project: ...
    def by_name(self, tenant_id: str, name: str) -> Project | None: ...
    def for_tenant(self, tenant_id: str) -> list[Project]: ...


class PrincipalRepository(Protocol):
    def add(self, principal: Principal, password_hash: str | None) -> None: ...
    def get(self, tenant_id: str | None, principal_id: str) -> Principal: ...
    def for_login(self, email: str) -> tuple[Principal, str | None] | None:
        """Login path only: find a principal by its globally unique email."""
        ...

    def set_password_hash(self, principal_id: str, password_hash: str) -> None: ...
    def for_tenant(self, tenant_id: str) -> list[Principal]: ...


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...
    def get(self, tenant_id: str, job_id: str) -> Job: ...
    def get_for_update(self, tenant_id: str, job_id: str) -> Job:
        """Like `get`, but locks the row until the transaction ends."""
        ...

    def save(self, job: Job) -> None:
        """Persist state, fields and any history steps not yet stored."""
        ...

    def page(
        self,
        tenant_id: str,
        project_id: str,
        states: frozenset[JobState] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Job]: ...
    def count_active(self, tenant_id: str) -> int:
        """Jobs holding a running slot (scheduled or running)."""
        ...

    def tenants_with_queued(self, backends: Sequence[str]) -> list[str]:
        """Scheduler path: ids of tenants with queued jobs on these backends, sorted."""
        ...

    def next_queued(self, tenant_id: str, backends: Sequence[str]) -> Job | None:
        """Scheduler path: the tenant's oldest queued job on these backends, locked
        (rows locked by another transaction are skipped)."""
        ...

    def retirable(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Sweeper path: (tenant_id, job_id) of finished jobs last changed before *before*."""
        ...


class ArtifactRepository(Protocol):
    def put(self, tenant_id: str, job_id: str, kind: str, sealed: SealedArtifact) -> None: ...
    def get(self, tenant_id: str, job_id: str, kind: str) -> SealedArtifact: ...
    def delete_for_job(self, tenant_id: str, job_id: str) -> int: ...


class LeaseRepository(Protocol):
    def add(self, lease: JobLease) -> None: ...
    def get(self, lease_id: str) -> JobLease:
        """Worker path; the caller checks the lease belongs to the calling worker."""
        ...

    def for_job(self, job_id: str) -> JobLease | None: ...
    def renew(self, lease_id: str, expires_at: datetime) -> None: ...
    def delete(self, lease_id: str) -> None: ...
    def expired(self, now: datetime, limit: int) -> list[JobLease]:
        """Sweeper path."""
        ...


class WorkerRepository(Protocol):
    def add(self, worker: WorkerRecord) -> None: ...
    def get(self, worker_id: str) -> WorkerRecord: ...
    def by_name(self, name: str) -> WorkerRecord | None: ...
    def list_all(self) -> list[WorkerRecord]: ...


class TenantKeyRepository(Protocol):
    """Wrapped tenant key-encryption keys; the wrapping key never reaches the store."""

    def latest(self, tenant_id: str) -> tuple[int, bytes] | None: ...
    def get(self, tenant_id: str, version: int) -> bytes | None: ...
    def add(self, tenant_id: str, version: int, wrapped: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    tenant_id: str  # always scoped; platform entries are read by the operator path
    actor_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepository(Protocol):
    def head_for_update(self, chain: str) -> tuple[int, str] | None:
        """(seq, entry_hash) of the chain's last entry, locking the chain for appending."""
        ...

    def append(self, entry: AuditEntry) -> None: ...
    def search(self, query: AuditQuery, limit: int, cursor: str | None) -> Page[AuditEntry]: ...
    def chain(self, chain: str) -> Iterator[AuditEntry]:
        """Every entry of one chain in sequence order."""
        ...

    def chains(self) -> list[str]:
        """Operator path: the names of every chain."""
        ...


class SchedulerStateRepository(Protocol):
    def cursor_for_update(self) -> str | None:
        """The tenant served last, locking the row so schedulers take turns."""
        ...

    def set_cursor(self, tenant_id: str) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction with every repository bound to it."""

    tenants: TenantRepository
    projects: ProjectRepository
    principals: PrincipalRepository
    jobs: JobRepository
    artifacts: ArtifactRepository
    leases: LeaseRepository
    workers: WorkerRepository
    tenant_keys: TenantKeyRepository
    audit: AuditRepository
    scheduler: SchedulerStateRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back on exception; otherwise roll back anything not committed."""
        ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
