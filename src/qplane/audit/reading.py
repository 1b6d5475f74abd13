"""Reading one audit log as one authorised reader: entries, checkpoints, proofs, self-check.

Whoever reads — a tenant's admin or auditor, an operator reading the
platform's log, an operator under a break-glass grant — reads through a
`LogAccess`, so every read is recorded the same way: in the reader's log(s),
in the transaction that reads. Proofs are computed from the stored tree
nodes (O(log n) reads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from qplane.audit.actors import actor_facts
from qplane.audit.export import Encoding, describe_export, write_export
from qplane.audit.log import record
from qplane.audit.merkle import ConsistencyProof, InclusionProof
from qplane.audit.merkle_tree import MerkleTree
from qplane.audit.signing import CheckpointKeys
from qplane.audit.stored_nodes import StoredNodes
from qplane.audit.verify import LogReport
from qplane.domain import tenant_scope
from qplane.domain.audit import AuditEntry, AuditEvent, Outcome, StoredCheckpoint
from qplane.domain.elevation import BreakGlassGrant
from qplane.domain.errors import Conflict, NotFound, ValidationFailed
from qplane.domain.ports import AuditQuery, Page, UnitOfWork, UnitOfWorkFactory
from qplane.policy.actor import Actor

_log = logging.getLogger("qplane.audit")


class LogKeeper(Protocol):
    """What reading needs from the log's keeper (`AuditService`): keys, signing, self-check."""

    @property
    def keys(self) -> CheckpointKeys: ...
    def origin(self, log: str) -> str: ...
    def sign(self, log: str) -> StoredCheckpoint: ...
    def verify(self, log: str) -> LogReport: ...


@dataclass(frozen=True, slots=True)
class EntryProof:
    """An entry with the proof that it is leaf *index* of the checkpointed tree."""

    entry: AuditEntry
    checkpoint: StoredCheckpoint
    proof: InclusionProof


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads, under which elevation (None: their own right), allowed by which policies."""

    actor: Actor
    grant: BreakGlassGrant | None = None
    policy_ids: tuple[str, ...] = ()

    def logs(self) -> tuple[str | None, ...]:
        """The tenants whose logs record this reader's acts (None: the platform's).

        Under a grant both, the platform's first: every transaction that
        appends to both logs takes their locks in that one order.
        """
        if self.grant is not None:
            return (None, self.grant.tenant_id)
        return (self.actor.tenant_id,)

    def event(self, action: str, tenant_id: str | None, target: str, detail: str) -> AuditEvent:
        facts, grant = actor_facts(self.actor), self.grant
        if grant is not None:
            detail = f"{detail}; break-glass {grant.id}: {grant.reason}"
        return AuditEvent(
            action=action,
            outcome=Outcome.SUCCESS,
            tenant_id=tenant_id,
            actor_id=facts.actor_id,
            target=target,
            request_id=facts.request_id,
            detail=detail,
            actor_kind=facts.actor_kind,
            auth_method=facts.auth_method,
            elevation_id=None if grant is None else grant.id,
            policy_ids=self.policy_ids,
            source_ip=facts.source_ip,
        )

    def record(self, uow: UnitOfWork, action: str, target: str, detail: str) -> None:
        for tenant_id in self.logs():
            record(uow, self.event(action, tenant_id, target, detail))


class LogAccess:
    """One audit log as one authorised reader reads it.

    Every read of entries, proofs or a verification is recorded in the
    reader's log(s) in the transaction that reads, so no read goes
    unrecorded. Under a grant, every step runs confined to the grant's
    tenant (PostgreSQL's row security then shows that tenant's rows only)
    and re-checks that the grant is still valid.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keeper: LogKeeper,
        log: str,
        reader: Reader,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow_factory
        self._keeper = keeper
        self._reader = reader
        self._clock = clock
        self.log = log

    def search(self, query: AuditQuery, limit: int, cursor: str | None) -> Page[AuditEntry]:
        """Entries of this log matching *query* (its ``log`` is ignored), newest first."""
        with self._scope(), self._uow() as uow:
            page = uow.audit.search(replace(query, log=self.log), limit, cursor)
            self._reader.record(uow, "audit.search", self.log, f"{len(page.items)} entries")
            uow.commit()
        return page

    def checkpoint(self, *, fresh: bool = False) -> StoredCheckpoint:
        """The latest signed checkpoint (signed now when *fresh*, or when there is none).

        The read is recorded after the checkpoint was taken, so the record
        is the first entry the next checkpoint covers.
        """
        with self._scope():
            latest = None
            if not fresh:
                with self._uow() as uow:
                    latest = uow.audit.latest_checkpoint(self.log)
            checkpoint = latest if latest is not None else self._keeper.sign(self.log)
            with self._uow() as uow:
                detail = f"checkpoint of size {checkpoint.size}"
                self._reader.record(uow, "audit.checkpoint", self.log, detail)
                uow.commit()
        return checkpoint

    def checkpoints(self, min_size: int = 0) -> list[StoredCheckpoint]:
        with self._scope(), self._uow() as uow:
            found = uow.audit.checkpoints(self.log, min_size)
            detail = f"{len(found)} checkpoints from size {min_size}"
            self._reader.record(uow, "audit.checkpoint", self.log, detail)
            uow.commit()
        return found

    def inclusion(self, index: int, tree_size: int | None) -> EntryProof:
        """Entry *index* and its proof against the checkpoint of *tree_size* (default: latest)."""
        if index < 0:
            raise ValidationFailed("an entry index is never negative", field="index")
        with self._scope():
            checkpoint = self._covering(index, tree_size)
            with self._uow() as uow:
                entry = uow.audit.entry(self.log, index)
                if entry is None:
                    raise NotFound("audit entry not found")
                tree = MerkleTree(StoredNodes(uow.audit, self.log), checkpoint.size)
                proof = tree.inclusion_proof(index, checkpoint.size)
                self._reader.record(uow, "audit.prove", self.log, f"inclusion of entry {index}")
                uow.commit()
        return EntryProof(entry, checkpoint, proof)

    def consistency(
        self, old_size: int, new_size: int | None
    ) -> tuple[StoredCheckpoint, StoredCheckpoint, ConsistencyProof]:
        """The proof that checkpoint *new_size* (default: latest) extends checkpoint *old_size*."""
        with self._scope(), self._uow() as uow:
            old = uow.audit.checkpoint(self.log, old_size)
            new = (
                uow.audit.latest_checkpoint(self.log)
                if new_size is None
                else uow.audit.checkpoint(self.log, new_size)
            )
            if old is None or new is None:
                raise NotFound("checkpoint not found")
            if old.size > new.size:
                raise ValidationFailed(
                    "the older checkpoint must not be the larger one", field="old"
                )
            tree = MerkleTree(StoredNodes(uow.audit, self.log), new.size)
            proof = tree.consistency_proof(old.size, new.size)
            detail = f"consistency {old.size}->{new.size}"
            self._reader.record(uow, "audit.prove", self.log, detail)
            uow.commit()
        return old, new, proof

    def verify(self) -> LogReport:
        """The server's self-check of this log: its tree recomputed, every checkpoint checked."""
        with self._scope():
            report = self._keeper.verify(self.log)
            try:
                with self._uow() as uow:
                    self._reader.record(uow, "audit.verify", self.log, report.describe())
                    uow.commit()
            except Conflict:
                # A row planted beyond the log's head takes the next leaf's place, so
                # nothing can be appended; the report, which names that row, must
                # still reach the reader.
                if report.ok:
                    raise
                _log.warning("audit read not recorded: %s", report.describe())
        return report

    def export(self, query: AuditQuery | None, encoding: Encoding) -> Iterator[str]:
        """The log as `qplane.audit.export` lines that verify offline.

        The export is recorded first and a checkpoint signed after it, so
        every exported entry, the export's own record included, is covered
        by a signature; a refusal is an ordinary error, never a cut stream.
        """
        with self._scope(), self._uow() as uow:
            self._reader.record(uow, "audit.export", self.log, describe_export(query, encoding))
            uow.commit()
        self._keeper.sign(self.log)
        return write_export(
            self._uow,
            self.log,
            origin=self._keeper.origin(self.log),
            vkeys=self._keeper.keys.vkeys,
            query=query,
            encoding=encoding,
        )

    def _covering(self, index: int, tree_size: int | None) -> StoredCheckpoint:
        with self._uow() as uow:
            checkpoint = (
                uow.audit.latest_checkpoint(self.log)
                if tree_size is None
                else uow.audit.checkpoint(self.log, tree_size)
            )
        if checkpoint is None and tree_size is not None:
            raise NotFound("checkpoint not found")
        if checkpoint is None or (tree_size is None and checkpoint.size <= index):
            checkpoint = self._keeper.sign(self.log)  # the entry is newer than every checkpoint
        if index >= checkpoint.size:
            raise NotFound("audit entry not found")
        return checkpoint

    def _scope(self) -> AbstractContextManager[None]:
        grant = self._reader.grant
        if grant is None:
            return nullcontext()
        if not grant.admits(self._reader.actor.principal_id, self.log, self._clock()):
            raise NotFound("tenant not found")  # it expired since the decision
        return tenant_scope.confined_to(grant.tenant_id)
