"""Jobs and their lifecycle: the strict state machine every job follows.

    submitted → validated → queued → scheduled → running → succeeded → verified → retired
                    ↘ rejected          ↘ cancelled              ↘ failed

A job can only move along an edge of `TRANSITIONS`; anything else raises
`IllegalTransition`. Two edges go backwards on purpose: a job whose worker
lease expired (the worker died) returns from scheduled/running to queued, so
it is run again rather than lost. Every transition's time is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from qplane.domain.errors import IllegalTransition


class JobState(StrEnum):
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VERIFIED = "verified"
    RETIRED = "retired"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


S = JobState
TRANSITIONS: Final[dict[JobState, frozenset[JobState]]] = {
    S.SUBMITTED: frozenset({S.VALIDATED, S.REJECTED, S.CANCELLED}),
    S.VALIDATED: frozenset({S.QUEUED, S.REJECTED, S.CANCELLED}),
    S.QUEUED: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.RUNNING, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.QUEUED, S.CANCELLED}),
    S.SUCCEEDED: frozenset({S.VERIFIED, S.FAILED}),
    S.VERIFIED: frozenset({S.RETIRED}),
    S.FAILED: frozenset({S.RETIRED}),
    S.REJECTED: frozenset({S.RETIRED}),
    S.CANCELLED: frozenset({S.RETIRED}),
    S.RETIRED: frozenset(),
}

#: States in which a job is finished; nothing but retirement follows.
TERMINAL: Final = frozenset({S.VERIFIED, S.FAILED, S.REJECTED, S.CANCELLED, S.RETIRED})
#: States from which a tenant may cancel.
CANCELLABLE: Final = frozenset(
    state for state, targets in TRANSITIONS.items() if S.CANCELLED in targets
)
#: States that hold one of the tenant's running slots.
ACTIVE: Final = frozenset({S.SCHEDULED, S.RUNNING})
#: The largest execution log a worker may report for one job (bytes of UTF-8).
MAX_EXECUTION_LOG_BYTES: Final = 64 * 1024
#: Priorities order a tenant's own jobs (higher first); they never outrank other tenants.
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 9
DEFAULT_PRIORITY: Final = 5
#: The wall-clock limit a job runs under unless it asks for less (or the platform allows more).
DEFAULT_TIME_LIMIT_S: Final = 600


class SourceFormat(StrEnum):
    QASM2 = "qasm2"
    QASM3 = "qasm3"


def check_transition(current: JobState, target: JobState) -> None:
    """Raise `IllegalTransition` unless the lifecycle has an edge current → target."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"a job cannot move from {current.value} to {target.value}",
            current=current.value,
            target=target.value,
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of a job's history."""

    state: JobState
    at: datetime
    reason: str | None = None


class Classification(StrEnum):
    """How sensitive a job's circuit and results are, as its submitter declares.

    The platform treats every artifact as secret (encrypted per tenant);
    the classification is what tenant policies decide on, e.g. "confidential
    jobs only to backends in the EU region".
    """

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


@dataclass(frozen=True, slots=True)
class Job:
    """A job's metadata. The circuit and result live encrypted, elsewhere."""

    id: str
    tenant_id: str
    project_id: str
    owner_id: str
    backend: str
    shots: int
    source_format: SourceFormat
    state: JobState
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    seed: int | None = None
    qubits: int | None = None
    depth: int | None = None
    reason: str | None = None
    attempts: int = 0
    history: tuple[Transition, ...] = field(default_factory=tuple)
    classification: Classification = Classification.INTERNAL
    #: Where the job runs and its payloads live: its backend's region (residency).
    region: str = ""
    priority: int = DEFAULT_PRIORITY
    time_limit_s: int = DEFAULT_TIME_LIMIT_S
    #: Device time the scheduler expects the job to take (fair-share cost, quotas).
    estimated_s: float | None = None
    #: Device time the run took, as its backend metered it (usage).
    device_seconds: float | None = None
    #: The device calibration the job was leased (and ran) under.
    calibration_id: str | None = None
    #: When the job was first handed to a worker, and when its current run started.
    dispatched_at: datetime | None = None
    started_at: datetime | None = None

    def moved_to(self, target: JobState, at: datetime, reason: str | None = None) -> Job:
        """Return this job in *target* state, with the step added to its history."""
        check_transition(self.state, target)
        return replace(
            self,
            state=target,
            updated_at=at,
            reason=reason if reason is not None else self.reason,
            history=(*self.history, Transition(target, at, reason)),
        )
