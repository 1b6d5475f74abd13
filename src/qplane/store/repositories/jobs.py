"""Jobs and their history, plus the scheduler's and sweeper's queries over them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import and_, func, or_, select

from qplane.domain.errors import Conflict, NotFound
from qplane.domain.jobs import (
    ACTIVE,
    TERMINAL,
    Classification,
    Job,
    JobState,
    SourceFormat,
    Transition,
)
from qplane.domain.ports import Page
from qplane.store.models import JobRow, JobTransitionRow
from qplane.store.repositories._base import Repository, clamp_limit
from qplane.store.repositories._cursor import decode_cursor, encode_cursor

#: Finished jobs the sweeper may retire (retired ones are already done).
_RETIRABLE: Final = sorted(state.value for state in TERMINAL - {JobState.RETIRED})
_ACTIVE: Final = sorted(state.value for state in ACTIVE)
_STALE = "job was changed by someone else; reload it and try again"


class SqlJobRepository(Repository):
    def add(self, job: Job) -> None:
        """Store a new job and its history so far.

        Raises `NotFound` when the project does not exist *in the job's
        tenant*: the schema references projects by (tenant, project), so a
        job cannot be filed under another tenant's project.
        """
        with self._guarded(
            conflict="a job with this id already exists", missing="project not found"
        ):
            row = JobRow(
                id=job.id,
                tenant_id=job.tenant_id,
                project_id=job.project_id,
                owner_id=job.owner_id,
                created_at=job.created_at,
                classification=job.classification.value,
                region=job.region,
            )
            _copy_fields(row, job)
            self._session.add(row)
            self._session.flush()  # the job row first: its history references it
            self._session.add_all(_transition_rows(job, stored=0))

    def get(self, tenant_id: str, job_id: str) -> Job:
        """Raises `NotFound` for a missing job and for another tenant's alike."""
        return self._with_history([self._row(tenant_id, job_id, lock=False)])[0]

    def get_for_update(self, tenant_id: str, job_id: str) -> Job:
        """Like `get`, but the row stays locked until the unit of work ends."""
        return self._with_history([self._row(tenant_id, job_id, lock=True)])[0]

    def save(self, job: Job) -> None:
        """Write the job's mutable fields and append the history steps not yet stored.

        Identity fields (tenant, project, owner, creation time) never change.
        The stored history must be a prefix of the job's: otherwise the job
        was read before another writer moved it, and saving it would undo
        that move, so it is refused with `Conflict` (optimistic concurrency,
        with the history as the version).
        """
        row = self._row(job.tenant_id, job.id, lock=False)
        stored = self._histories([job.id])[job.id]
        if tuple(stored) != job.history[: len(stored)]:
            raise Conflict(_STALE)
        with self._guarded(conflict=_STALE):
            _copy_fields(row, job)
            self._session.add_all(_transition_rows(job, stored=len(stored)))

    def page(
        self,
        tenant_id: str,
        project_id: str,
        states: frozenset[JobState] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Job]:
        """A project's jobs, newest first, *limit* (clamped to 1..200) at a time.

        Keyset pagination on (created_at, id): pages stay stable while jobs
        are added, and a page costs the same however deep it is.
        """
        size = clamp_limit(limit)
        stmt = select(JobRow).where(JobRow.tenant_id == tenant_id, JobRow.project_id == project_id)
        if states is not None:
            stmt = stmt.where(JobRow.state.in_(sorted(state.value for state in states)))
        if cursor is not None:
            at, keys = decode_cursor(cursor, str)
            last_id = str(keys[0])
            stmt = stmt.where(
                or_(JobRow.created_at < at, and_(JobRow.created_at == at, JobRow.id < last_id))
            )
        stmt = stmt.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(size + 1)
        rows = self._all(stmt)
        next_cursor = None
        if len(rows) > size:
            last = rows[size - 1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return Page(items=self._with_history(rows[:size]), next_cursor=next_cursor)

    def count_active(self, tenant_id: str) -> int:
        """Jobs holding one of the tenant's running slots (scheduled or running)."""
        count = self._session.scalar(
            select(func.count()).where(JobRow.tenant_id == tenant_id, JobRow.state.in_(_ACTIVE))
        )
        return count or 0

    def tenants_with_queued(self, backends: Sequence[str]) -> list[str]:
        """Scheduler path: sorted ids of tenants with a queued job on one of *backends*."""
        if not backends:
            return []
        stmt = (
            select(JobRow.tenant_id)
            .where(JobRow.state == JobState.QUEUED.value, JobRow.backend.in_(list(backends)))
            .distinct()
            .order_by(JobRow.tenant_id)
        )
        return list(self._session.scalars(stmt).all())

    def next_queued(self, tenant_id: str, backends: Sequence[str]) -> Job | None:
        """Scheduler path: the tenant's oldest queued job on *backends*, locked.

        ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a job another scheduler has
        just locked is passed over, so two schedulers never take the same job
        and neither waits. SQLite has one writer at a time, so needs neither.
        """
        if not backends:
            return None
        stmt = (
            select(JobRow)
            .where(
                JobRow.tenant_id == tenant_id,
                JobRow.state == JobState.QUEUED.value,
                JobRow.backend.in_(list(backends)),
            )
            .order_by(JobRow.created_at, JobRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = self._first(stmt)
        return None if row is None else self._with_history([row])[0]

    def queued_on(self, tenant_id: str, backend: str, limit: int) -> list[Job]:
        """Scheduler path: the tenant's queued jobs on *backend* in the order it takes them.

        Higher priority first, then oldest first: priorities order a tenant's
        own jobs and never another tenant's.
        """
        stmt = (
            select(JobRow)
            .where(
                JobRow.tenant_id == tenant_id,
                JobRow.state == JobState.QUEUED.value,
                JobRow.backend == backend,
            )
            .order_by(JobRow.priority.desc(), JobRow.created_at, JobRow.id)
            .limit(max(limit, 0))
        )
        return self._with_history(self._all(stmt))

    def active_on(self, backend: str) -> int:
        """Jobs scheduled or running on *backend*, whoever's (an exclusive device runs one)."""
        count = self._session.scalar(
            select(func.count()).where(JobRow.backend == backend, JobRow.state.in_(_ACTIVE))
        )
        return count or 0

    def count_active_in(self, tenant_id: str, project_id: str) -> int:
        count = self._session.scalar(
            select(func.count()).where(
                JobRow.tenant_id == tenant_id,
                JobRow.project_id == project_id,
                JobRow.state.in_(_ACTIVE),
            )
        )
        return count or 0

    def running(self, limit: int) -> list[Job]:
        """Sweeper path: running jobs, longest running first (time limits)."""
        stmt = (
            select(JobRow)
            .where(JobRow.state == JobState.RUNNING.value)
            .order_by(JobRow.started_at, JobRow.id)
            .limit(max(limit, 0))
        )
        return self._with_history(self._all(stmt))

    def retirable(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Sweeper path: (tenant_id, job_id) of finished jobs last changed before *before*."""
        stmt = (
            select(JobRow.tenant_id, JobRow.id)
            .where(JobRow.state.in_(_RETIRABLE), JobRow.updated_at < before)
            .order_by(JobRow.updated_at, JobRow.id)
            .limit(max(limit, 0))
        )
        return [(tenant_id, job_id) for tenant_id, job_id in self._session.execute(stmt)]

    def _row(self, tenant_id: str, job_id: str, *, lock: bool) -> JobRow:
        stmt = select(JobRow).where(JobRow.tenant_id == tenant_id, JobRow.id == job_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self._first(stmt)
        if row is None:
            raise NotFound("job not found")
        return row

    def _with_history(self, rows: Sequence[JobRow]) -> list[Job]:
        """Convert rows to jobs, loading every history in one query."""
        histories = self._histories([row.id for row in rows])
        return [_job(row, histories[row.id]) for row in rows]

    def _histories(self, job_ids: list[str]) -> dict[str, list[Transition]]:
        histories: dict[str, list[Transition]] = {job_id: [] for job_id in job_ids}
        if not job_ids:
            return histories
        stmt = (
            select(
                JobTransitionRow.job_id,
                JobTransitionRow.state,
                JobTransitionRow.at,
                JobTransitionRow.reason,
            )
            .where(JobTransitionRow.job_id.in_(job_ids))
            .order_by(JobTransitionRow.job_id, JobTransitionRow.seq)
        )
        for job_id, state, at, reason in self._session.execute(stmt):
            histories[job_id].append(Transition(JobState(state), at, reason))
        return histories


def _copy_fields(row: JobRow, job: Job) -> None:
    row.backend = job.backend
    row.shots = job.shots
    row.source_format = job.source_format.value
    row.state = job.state.value
    row.tags = list(job.tags)
    row.seed = job.seed
    row.qubits = job.qubits
    row.depth = job.depth
    row.reason = job.reason
    row.attempts = job.attempts
    row.updated_at = job.updated_at
    row.priority = job.priority
    row.time_limit_s = job.time_limit_s
    row.estimated_s = job.estimated_s
    row.device_seconds = job.device_seconds
    row.calibration_id = job.calibration_id
    row.dispatched_at = job.dispatched_at
    row.started_at = job.started_at


def _transition_rows(job: Job, *, stored: int) -> list[JobTransitionRow]:
    return [
        JobTransitionRow(
            job_id=job.id,
            tenant_id=job.tenant_id,
            seq=seq,
            state=step.state.value,
            at=step.at,
            reason=step.reason,
        )
        for seq, step in enumerate(job.history[stored:], start=stored + 1)
    ]


def _job(row: JobRow, history: list[Transition]) -> Job:
    return Job(
        id=row.id,
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        owner_id=row.owner_id,
        backend=row.backend,
        shots=row.shots,
        source_format=SourceFormat(row.source_format),
        state=JobState(row.state),
        tags=tuple(row.tags),
        created_at=row.created_at,
        updated_at=row.updated_at,
        seed=row.seed,
        qubits=row.qubits,
        depth=row.depth,
        reason=row.reason,
        attempts=row.attempts,
        history=tuple(history),
        classification=Classification(row.classification),
        region=row.region,
        priority=row.priority,
        time_limit_s=row.time_limit_s,
        estimated_s=row.estimated_s,
        device_seconds=row.device_seconds,
        calibration_id=row.calibration_id,
        dispatched_at=row.dispatched_at,
        started_at=row.started_at,
    )
