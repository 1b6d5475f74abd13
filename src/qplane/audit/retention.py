"""Retention of audit entries: years, not the days artifacts are kept.

Why a separate, much longer clock: the log is the evidence of what
happened to artifacts long after they are gone (a job's result is retired
after 30 days by default; its audit trail stays 7 years). When entries do
reach their end, only their content goes: the leaf hashes stay in the tree,
so every checkpoint still verifies and every later entry keeps its proof,
and the removal itself is recorded as an entry of the same log. Only
entries already covered by a signed checkpoint are removed, so nothing
leaves the log before the platform committed to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from qplane.audit.log import record
from qplane.domain.audit import PLATFORM_LOG, AuditEvent, Outcome
from qplane.domain.clock import utcnow
from qplane.domain.ports import UnitOfWorkFactory


class AuditRetention:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        retention_days: float,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if retention_days <= 0:
            raise ValueError("audit retention must be positive")
        self._uow = uow_factory
        self._retention = timedelta(days=retention_days)
        self._clock = clock

    def prune(self) -> int:
        """Remove the content of entries older than the retention period; return how many."""
        cutoff = self._clock() - self._retention
        with self._uow() as uow:
            logs = uow.audit.logs()
        return sum(self._prune_log(log, cutoff) for log in logs)

    def _prune_log(self, log: str, cutoff: datetime) -> int:
        with self._uow() as uow:
            head = uow.audit.head_for_update(log)
            signed = uow.audit.latest_checkpoint(log)
            if head is None or signed is None:
                return 0
            first_kept = uow.audit.first_index_at_or_after(log, cutoff)
            below = min(head.size if first_kept is None else first_kept, signed.size)
            if below <= uow.audit.pruned_below(log):
                return 0
            removed = uow.audit.prune(log, below)
            record(
                uow,
                AuditEvent(
                    action="audit.retention",
                    outcome=Outcome.SUCCESS,
                    tenant_id=None if log == PLATFORM_LOG else log,
                    actor_id=None,
                    target=log,
                    detail=(
                        f"content of entries below {below} removed after "
                        f"{self._retention.days} days; their leaf hashes are kept"
                    ),
                ),
            )
            uow.commit()
        return removed
