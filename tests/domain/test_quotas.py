"""Quota checks: the first limit a job would break, with its use and reset time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.domain.backends import BackendKind
from qplane.domain.errors import QuotaExceeded, ValidationFailed
from qplane.domain.quotas import Demand, Quota, Usage, check, plan_weight, validate

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def test_a_job_within_every_limit_passes() -> None:
    quota = Quota("ten", shots_per_day=1000, queued_jobs=2)
    check(quota, Usage(shots_today=500, queued_jobs=1), Demand(BackendKind.QPU, 500, 1.0), NOW)


def test_shots_per_day_names_the_limit_the_use_and_midnight() -> None:
    quota = Quota("ten", project_id="prj", shots_per_day=1000)
    with pytest.raises(QuotaExceeded) as refused:
        check(quota, Usage(shots_today=900), Demand(BackendKind.SIMULATOR, 200, 1.0), NOW)
    ext = refused.value.extensions
    assert (ext["limit"], ext["scope"], ext["allowed"], ext["used"]) == (
        "shots_per_day",
        "project",
        1000,
        900,
    )
    assert ext["resets_at"] == "2026-11-27T00:00:00+00:00"


def test_device_seconds_are_per_backend_kind_and_reset_monthly() -> None:
    quota = Quota("ten", qpu_seconds_per_month=60.0)
    check(quota, Usage(simulator_seconds_this_month=1e6), Demand(BackendKind.SIMULATOR, 1, 5), NOW)
    with pytest.raises(QuotaExceeded) as refused:
        check(quota, Usage(qpu_seconds_this_month=58.0), Demand(BackendKind.QPU, 1, 5.0), NOW)
    assert refused.value.extensions["resets_at"] == "2026-12-01T00:00:00+00:00"


def test_job_counts_have_no_reset_time() -> None:
    with pytest.raises(QuotaExceeded) as refused:
        check(Quota("ten", queued_jobs=1), Usage(queued_jobs=1), Demand(BackendKind.QPU, 1, 1), NOW)
    assert "resets_at" not in refused.value.extensions


def test_limits_must_be_non_negative_and_plans_known() -> None:
    with pytest.raises(ValidationFailed):
        validate(Quota("ten", running_jobs=-1))
    with pytest.raises(ValidationFailed):
        plan_weight("platinum")
    assert plan_weight("premium") > plan_weight("standard") > plan_weight("free")
