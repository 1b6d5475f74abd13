"""Reading and verifying the audit log, scoped like everything else."""

from __future__ import annotations

from qplane.audit.verify import ChainReport, verify_chain
from qplane.domain.audit import AuditEntry
from qplane.domain.errors import NotFound
from qplane.domain.ports import AuditQuery, Page, UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.engine import PolicyEngine


class AuditService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, *, authorizer: Authorizer | None = None
    ) -> None:
        self._uow = uow_factory
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)

    def search(
        self, actor: Actor, query: AuditQuery, limit: int, cursor: str | None
    ) -> Page[AuditEntry]:
        """Entries of the actor's own tenant only; *query.tenant_id* must be that tenant."""
        self._authz.on_tenant(actor, Action.AUDIT_READ, query.tenant_id)
        with self._uow() as uow:
            return uow.audit.search(query, limit, cursor)

    def verify_tenant(self, actor: Actor) -> ChainReport:
        """Verify the actor's tenant chain on the server."""
        self._authz.on_tenant(actor, Action.AUDIT_READ, actor.tenant_id)
        if actor.tenant_id is None:
            raise NotFound("tenant not found")
        return self.verify(actor.tenant_id)

    def verify(self, chain: str) -> ChainReport:
        with self._uow() as uow:
            head = uow.audit.head_for_update(chain)
            report = verify_chain(chain, uow.audit.chain(chain))
        return _check_tail(report, head)

    def verify_all(self) -> list[ChainReport]:
        """Operator path (local `qplane audit verify`): every chain on the platform."""
        with self._uow() as uow:
            chains = uow.audit.chains()
        return [self.verify(chain) for chain in chains]


def _check_tail(report: ChainReport, head: tuple[int, str] | None) -> ChainReport:
    """Catch a truncated tail: the recorded head must be the last entry seen."""
    if not report.ok or head is None:
        return report
    if report.entries != head[0]:
        return ChainReport(
            report.chain,
            report.entries,
            first_bad_seq=report.entries + 1,
            problem=f"chain ends at entry {report.entries} but its head records {head[0]} "
            "(entries deleted from the end)",
        )
    return report
