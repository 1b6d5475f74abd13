"""The figures of benchmarks/fairness.py, computed from what one run recorded.

Kept apart from the benchmark's rig (platform, tenants, device loop) so each
reads on its own: this module only counts, and decides nothing about how the
jobs were run. See benchmarks/fairness.py for what each figure shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from qplane.domain.clock import as_utc
from qplane.domain.fair_share import jain_index
from qplane.domain.jobs import Job, JobState

#: Jobs submitted this close to the window's end count neither as demand nor as received.
GRACE_S: Final = 1.0


@dataclass(frozen=True)
class Run:
    """One run as the benchmark saw it: who submitted what, and what the device leased."""

    started: datetime
    submitted: dict[str, list[Job]]  # by tenant name (A, B, C)
    leased: list[Job]  # in the order the device leased them
    lease_calls: int
    lease_s: float

    def tenant(self, name: str) -> str:
        return self.submitted[name][0].tenant_id if self.submitted[name] else ""

    def waits(self, name: str) -> list[float]:
        """Queue waits of *name*'s jobs: dispatched_at - created_at."""
        return [
            (_dispatched(job) - as_utc(job.created_at)).total_seconds()
            for job in self.leased
            if job.tenant_id == self.tenant(name)
        ]

    def overtaken(self, name: str) -> list[int]:
        """For each of *name*'s jobs, the other tenants' jobs leased after it was queued."""
        counts, tenant = [], self.tenant(name)
        for position, job in enumerate(self.leased):
            if job.tenant_id == tenant:
                queued = next(step.at for step in job.history if step.state is JobState.QUEUED)
                earlier = self.leased[:position]
                counts.append(
                    sum(o.tenant_id != tenant and _dispatched(o) > as_utc(queued) for o in earlier)
                )
        return counts


def _dispatched(job: Job) -> datetime:
    return as_utc(job.dispatched_at or job.created_at)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


def max_min_shares(demands: dict[str, float], capacity: float) -> dict[str, float]:
    """Water-filling: a tenant asking for less than an equal split gets it all; the rest share."""
    shares: dict[str, float] = {}
    left, pending = capacity, sorted(demands, key=lambda name: demands[name])
    while pending:
        level = left / len(pending)
        if demands[pending[0]] > level:
            shares.update(dict.fromkeys(pending, level))
            break
        name = pending.pop(0)
        shares[name] = demands[name]
        left -= demands[name]
    return shares


def queue_wait(contention: Run, baseline: Run, name: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"contention_s": {}, "baseline_s": {}, "ratio": {}}
    for q in (50, 99):
        busy, calm = percentile(contention.waits(name), q), percentile(baseline.waits(name), q)
        figures["contention_s"][f"p{q}"] = round(busy, 4)
        figures["baseline_s"][f"p{q}"] = round(calm, 4)
        figures["ratio"][f"p{q}"] = round(busy / calm, 2) if calm > 0 else None
    figures["most_other_jobs_leased_while_queued"] = max(contention.overtaken(name))
    return figures


def device_time(run: Run, duration: int) -> dict[str, Any]:
    """Device time asked for and received per tenant while all three competed.

    Demand: the jobs each tenant submitted in the window's first *duration* -
    `GRACE_S` seconds; received: those of them leased before the window closed.
    A job submitted in the last moments may fairly still be waiting at the
    close: counting it would score a wait of a fraction of a second as
    starvation, so it counts in neither.
    """
    begin = run.started
    cutoff = begin + timedelta(seconds=max(duration - GRACE_S, duration / 2))
    end = begin + timedelta(seconds=duration)
    leased = {job.id for job in run.leased if _dispatched(job) < end}
    asked = {
        name: [job for job in jobs if begin <= as_utc(job.created_at) < cutoff]
        for name, jobs in run.submitted.items()
    }
    demand = {name: _seconds(jobs) for name, jobs in asked.items()}
    received = {name: _seconds(j for j in jobs if j.id in leased) for name, jobs in asked.items()}
    fair = max_min_shares(demand, sum(received.values()))
    names = sorted(run.submitted)
    return {
        "window_s": duration,
        "grace_s": GRACE_S,
        "demand_s": {name: round(demand[name], 2) for name in names},
        "received_s": {name: round(received[name], 2) for name in names},
        "max_min_fair_share_s": {name: round(fair[name], 2) for name in names},
        "jain_raw": round(jain_index([received[name] for name in names]), 4),
        "jain_normalised_to_max_min_fair_share": round(
            jain_index([received[name] / fair[name] for name in names if fair[name] > 0]), 4
        ),
    }


def _seconds(jobs: Iterable[Job]) -> float:
    return sum(job.estimated_s or 0.0 for job in jobs)


def job_counts(run: Run) -> dict[str, dict[str, int]]:
    leased = {job.id for job in run.leased}
    return {
        name: {"submitted": len(jobs), "dispatched": sum(job.id in leased for job in jobs)}
        for name, jobs in sorted(run.submitted.items())
    }
