"""Moving a job along its lifecycle, with the audit entry in the same transaction."""

from __future__ import annotations

from qplane.broker.auditing import audit
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.jobs import Job, JobState
from qplane.domain.ports import UnitOfWork
from qplane.policy.actor import Actor


def move(
    uow: UnitOfWork,
    job: Job,
    target: JobState,
    actor: Actor | str | None,
    reason: str | None = None,
    *,
    correlations: tuple[tuple[str, str], ...] = (),
) -> Job:
    """Transition *job* to *target*, persist it and audit the change; returns the new job.

    *correlations* are keyed digests of what the change brought (a result).
    Raises `IllegalTransition` (nothing written) when the lifecycle has no such edge.
    """
    moved = job.moved_to(target, utcnow(), reason)
    uow.jobs.save(moved)
    outcome = Outcome.DENIED if target is JobState.REJECTED else Outcome.SUCCESS
    audit(
        uow,
        actor,
        f"job.{target.value}",
        tenant_id=job.tenant_id,
        target=job.id,
        outcome=outcome,
        detail=f"{job.state.value}->{target.value}" + (f": {reason}" if reason else ""),
        job_id=job.id,
        backend=job.backend,
        correlations=correlations,
    )
    return moved
