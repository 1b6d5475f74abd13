"""The keeper of the audit logs: signs their checkpoints and checks them against their entries.

Checkpoints are signed from a log's head, so signing never reads the
entries; the self-check recomputes the whole tree from them. Reading a log
(entries, proofs) is `qplane.audit.reading`'s, decided by
`qplane.audit.platform_access`.
"""

from __future__ import annotations

from collections.abc import Iterator

from qplane.audit.checkpoint import sign_checkpoint
from qplane.audit.signing import CheckpointKeys, log_origin
from qplane.audit.verify import LogReport, verify_stored_log
from qplane.domain.audit import AuditEntry, LogHead, StoredCheckpoint
from qplane.domain.clock import utcnow
from qplane.domain.errors import NotFound
from qplane.domain.ports import UnitOfWorkFactory


class AuditService:
    def __init__(self, uow_factory: UnitOfWorkFactory, keys: CheckpointKeys) -> None:
        self._uow = uow_factory
        self._keys = keys

    @property
    def keys(self) -> CheckpointKeys:
        return self._keys

    def origin(self, log: str) -> str:
        return log_origin(self._keys.origin, log)

    # -- the platform's paths -------------------------------------------------------
    def sign(self, log: str) -> StoredCheckpoint:
        """Sign a checkpoint of *log* as it stands (or return the one of that size)."""
        with self._uow() as uow:
            head = uow.audit.head(log)
            if head is None:
                raise NotFound("the audit log is empty")
            existing = uow.audit.checkpoint(log, head.size)
            if existing is not None:
                return existing
            now = utcnow()
            note = sign_checkpoint(
                self.origin(log), head.size, head.root, self._keys.signers, timestamp=now
            )
            checkpoint = StoredCheckpoint(log, head.size, head.root, now, note)
            uow.audit.add_checkpoint(checkpoint)
            uow.commit()
        return checkpoint

    def sign_grown(self) -> int:
        """Sign every log that grew since its last checkpoint (the sweeper's interval job)."""
        with self._uow() as uow:
            grown = [
                log
                for log in uow.audit.logs()
                if _size(uow.audit.latest_checkpoint(log)) < _size(uow.audit.head(log))
            ]
        for log in grown:
            self.sign(log)
        return len(grown)

    def verify(self, log: str) -> LogReport:
        """Recompute *log*'s tree from its entries and check it against every checkpoint."""
        with self._uow() as uow:
            head = uow.audit.head(log)
            size = 0 if head is None else head.size
            return verify_stored_log(
                log,
                head=head,
                entries=uow.audit.entries(log, uow.audit.pruned_below(log)),
                stored_leaves=uow.audit.leaf_hashes(log, 0, size),
                pruned_below=uow.audit.pruned_below(log),
                checkpoints=uow.audit.checkpoints(log),
                verifiers=self._keys.verifiers,
                origin=self.origin(log),
            )

    def verify_all(self) -> list[LogReport]:
        """Operator path (local `qplane audit verify`): every log on the platform."""
        with self._uow() as uow:
            logs = uow.audit.logs()
        return [self.verify(log) for log in logs]

    def entries(self, log: str) -> Iterator[AuditEntry]:
        """Operator path: one log's entries, in order (for exports)."""
        with self._uow() as uow:
            yield from uow.audit.entries(log)


def _size(item: StoredCheckpoint | LogHead | None) -> int:
    return 0 if item is None else item.size
