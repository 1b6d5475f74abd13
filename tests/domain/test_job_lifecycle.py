"""The job state machine is the contract every part of qplane relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.domain.errors import IllegalTransition
from qplane.domain.jobs import (
    ACTIVE,
    CANCELLABLE,
    TERMINAL,
    TRANSITIONS,
    Job,
    JobState,
    SourceFormat,
    Transition,
    check_transition,
)

S = JobState
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _job(state: JobState = S.SUBMITTED) -> Job:
    return Job(
        id="job_" + "0" * 32,
        tenant_id="ten_" + "1" * 32,
        project_id="prj_" + "2" * 32,
        owner_id="usr_" + "3" * 32,
        backend="aer_statevector",
        shots=100,
        source_format=SourceFormat.QASM2,
        state=state,
        tags=(),
        created_at=T0,
        updated_at=T0,
        history=(Transition(state, T0),),
    )


HAPPY_PATH = [S.VALIDATED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED, S.VERIFIED, S.RETIRED]


def test_happy_path_walks_every_stage_and_keeps_each_timestamp() -> None:
    job = _job()
    for minute, state in enumerate(HAPPY_PATH, start=1):
        job = job.moved_to(state, T0.replace(minute=minute))
    assert job.state is S.RETIRED
    assert [t.state for t in job.history] == [S.SUBMITTED, *HAPPY_PATH]
    assert [t.at.minute for t in job.history] == list(range(len(HAPPY_PATH) + 1))


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in S for t in S if t not in TRANSITIONS[c]],
)
def test_every_edge_not_in_the_lifecycle_is_refused(current: JobState, target: JobState) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target)
    assert info.value.extensions == {"current": current.value, "target": target.value}


def test_refused_transition_leaves_the_job_unchanged() -> None:
    job = _job(S.QUEUED)
    with pytest.raises(IllegalTransition):
        job.moved_to(S.SUCCEEDED, T0)
    assert job.state is S.QUEUED
    assert len(job.history) == 1


def test_rejected_and_cancelled_jobs_can_only_retire() -> None:
    assert TRANSITIONS[S.REJECTED] == {S.RETIRED}
    assert TRANSITIONS[S.CANCELLED] == {S.RETIRED}
    assert TRANSITIONS[S.RETIRED] == frozenset()


def test_lost_leases_can_return_a_job_to_its_queue() -> None:
    assert S.QUEUED in TRANSITIONS[S.SCHEDULED]
    assert S.QUEUED in TRANSITIONS[S.RUNNING]


def test_finished_jobs_cannot_be_cancelled() -> None:
    assert not CANCELLABLE & (TERMINAL | {S.SUCCEEDED})
    assert ACTIVE <= CANCELLABLE


def test_a_reason_is_kept_with_the_step_that_gave_it() -> None:
    job = _job().moved_to(S.REJECTED, T0, "too many qubits")
    assert job.reason == "too many qubits"
    assert job.history[-1].reason == "too many qubits"
