"""Weighted fair share across tenants: start-time fair queueing over device time.

Each device keeps a virtual clock; each tenant waiting for it has a finish
tag. A tenant's next job would start at ``max(clock, finish tag)``: the
scheduler serves the tenant with the smallest start tag, advances the clock
to it, and moves that tenant's finish tag on by the job's estimated device
time divided by the tenant's weight. So, among tenants that keep the device
busy, each receives device time in proportion to its weight, whatever the
number or size of its jobs, and a tenant that floods the queue only pushes
its own tags further out. A tenant that was idle starts at the clock, not
at its old tag: idling banks no credit to burst with later.

This is Goyal, Vin and Cheng's start-time fair queueing (SIGCOMM 1996); the
functions here are pure, the scheduler stores clocks and tags per device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def start_tag(clock: float, finish_tag: float | None) -> float:
    """When a tenant's next job starts in virtual time (a new tenant: at the clock)."""
    return clock if finish_tag is None else max(clock, finish_tag)


def order(
    tenants: Sequence[str], clock: float, finish_tags: Mapping[str, float]
) -> list[tuple[float, str]]:
    """The tenants by start tag, smallest first; ties broken by tenant id (stable)."""
    return sorted((start_tag(clock, finish_tags.get(t)), t) for t in tenants)


def charge(start: float, seconds: float, weight: int) -> float:
    """The tenant's new finish tag after a job of *seconds* device time starting at *start*."""
    if weight <= 0:
        raise ValueError("a fair-share weight must be positive")
    return start + max(seconds, 0.0) / weight


def jain_index(shares: Sequence[float]) -> float:
    """Jain's fairness index: 1 when every share is equal, 1/n when one takes all."""
    if not shares:
        return 1.0
    total = sum(shares)
    squares = sum(share * share for share in shares)
    return 1.0 if squares == 0 else total * total / (len(shares) * squares)
