"""A small seeded world for the store's contract tests: two tenants, side by side.

Every tenant-scoping test needs a second tenant whose rows must stay
invisible; `World` builds both, plus domain objects with sensible defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest

from qplane.domain import ids
from qplane.domain.jobs import Job, JobState, SourceFormat, Transition
from qplane.domain.tenancy import Principal, PrincipalKind, Project, Role, Tenant
from qplane.domain.workers import WorkerRecord
from qplane.store import Database

S = JobState
#: How a job reaches each state from submission.
PATHS: Final[dict[JobState, tuple[JobState, ...]]] = {
    S.SUBMITTED: (),
    S.VALIDATED: (S.VALIDATED,),
    S.REJECTED: (S.VALIDATED, S.REJECTED),
    S.QUEUED: (S.VALIDATED, S.QUEUED),
    S.CANCELLED: (S.VALIDATED, S.QUEUED, S.CANCELLED),
    S.SCHEDULED: (S.VALIDATED, S.QUEUED, S.SCHEDULED),
    S.RUNNING: (S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING),
    S.FAILED: (S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.FAILED),
    S.SUCCEEDED: (S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED),
    S.VERIFIED: (S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED, S.VERIFIED),
    S.RETIRED: (S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.FAILED, S.RETIRED),
}
EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Side:
    """One tenant with a project and a member who owns its jobs."""

    tenant: Tenant
    project: Project
    owner: Principal


@dataclass
class World:
    db: Database
    a: Side
    b: Side
    worker: WorkerRecord
    _tick: int = field(default=0)

    def now(self) -> datetime:
        """A clock that moves one second per call, so creation order is time order."""
        self._tick += 1
        return EPOCH + timedelta(seconds=self._tick)

    def job(
        self,
        side: Side,
        state: JobState = S.QUEUED,
        *,
        backend: str = "aer_simulator",
        at: datetime | None = None,
        **fields: Any,
    ) -> Job:
        """A new (unsaved) job of *side*, walked through the lifecycle to *state*."""
        created = at or self.now()
        job = Job(
            id=ids.new_id(ids.JOB),
            tenant_id=side.tenant.id,
            project_id=side.project.id,
            owner_id=side.owner.id,
            backend=backend,
            shots=1024,
            source_format=SourceFormat.QASM3,
            state=S.SUBMITTED,
            tags=("demo", "bell"),
            created_at=created,
            updated_at=created,
            history=(Transition(S.SUBMITTED, created),),
        )
        for step in PATHS[state]:
            job = job.moved_to(step, created, reason=f"to {step.value}")
        return replace(job, **fields)

    def add_jobs(self, *jobs: Job) -> None:
        with self.db.unit_of_work() as uow:
            for job in jobs:
                uow.jobs.add(job)
            uow.commit()


def new_side(db: Database, name: str) -> Side:
    tenant = Tenant(ids.new_id(ids.TENANT), name, max_running_jobs=4, created_at=EPOCH)
    project = Project(ids.new_id(ids.PROJECT), tenant.id, "default", created_at=EPOCH)
    owner = Principal(
        id=ids.new_id(ids.PRINCIPAL),
        kind=PrincipalKind.USER,
        tenant_id=tenant.id,
        email=f"owner@{name}.example",
        roles=frozenset({Role.MEMBER}),
    )
    with db.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.projects.add(project)
        uow.principals.add(owner, password_hash=None)
        uow.commit()
    return Side(tenant, project, owner)


@pytest.fixture
def world(database: Database) -> World:
    worker = WorkerRecord(
        id=ids.new_id(ids.WORKER),
        name="worker-1",
        public_jwk='{"kty":"OKP","crv":"Ed25519","x":"AAAA"}',
        backends=("aer_simulator", "fake_qpu"),
        created_at=EPOCH,
    )
    with database.unit_of_work() as uow:
        uow.workers.add(worker)
        uow.commit()
    return World(database, new_side(database, "acme"), new_side(database, "globex"), worker)


@pytest.fixture
def impatient(database: Database, database_url: str) -> Iterator[Database]:
    """A second handle on the same PostgreSQL database whose lock waits fail after 100 ms.

    Lets a test observe that a row is locked without blocking forever.
    """
    db = Database(f"{database_url}?options=-c%20lock_timeout%3D100")
    yield db
    db.dispose()
