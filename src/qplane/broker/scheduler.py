"""Choosing the next job: round-robin across tenants, within each tenant's running limit.

Each tenant has its own queue (its queued jobs, oldest first). The scheduler
serves tenants in turn, starting after the tenant it served last, so a tenant
that floods its queue only lengthens its own wait. The cursor lives in the
database and is locked while choosing, so several API servers take turns
rather than each keeping a private rotation.
"""

from __future__ import annotations

from collections.abc import Sequence

from qplane.domain.jobs import Job
from qplane.domain.ports import UnitOfWork


def round_robin_order(tenant_ids: Sequence[str], last_served: str | None) -> list[str]:
    """The tenants in the order to try: those after *last_served* first, then the rest."""
    ordered = sorted(tenant_ids)
    if last_served is None:
        return ordered
    after = [t for t in ordered if t > last_served]
    return after + [t for t in ordered if t <= last_served]


def pick_next(uow: UnitOfWork, backends: Sequence[str]) -> Job | None:
    """Return (locked) the next job to run on one of *backends*, or None.

    Skips tenants already at their running-jobs limit; records the tenant
    served so the next call starts after it.
    """
    if not backends:
        return None
    candidates = uow.jobs.tenants_with_queued(backends)
    if not candidates:
        return None
    last = uow.scheduler.cursor_for_update()
    for tenant_id in round_robin_order(candidates, last):
        tenant = uow.tenants.get(tenant_id)
        if uow.jobs.count_active(tenant_id) >= tenant.max_running_jobs:
            continue
        job = uow.jobs.next_queued(tenant_id, backends)
        if job is not None:
            uow.scheduler.set_cursor(tenant_id)
            return job
    return None
