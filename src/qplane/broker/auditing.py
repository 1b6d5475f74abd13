"""How services describe what they did to the audit log."""

from __future__ import annotations

from qplane.audit.log import record
from qplane.domain.audit import AuditEvent, Outcome
from qplane.domain.ports import UnitOfWork
from qplane.policy.actor import Actor


def audit(
    uow: UnitOfWork,
    actor: Actor | str | None,
    action: str,
    *,
    tenant_id: str | None,
    target: str | None,
    outcome: Outcome = Outcome.SUCCESS,
    detail: str | None = None,
    request_id: str | None = None,
) -> None:
    """Record one event in *uow*'s transaction.

    *actor* is the acting principal, a bare id (a worker), or None for the platform itself.
    """
    record(
        uow,
        AuditEvent(
            action=action,
            outcome=outcome,
            tenant_id=tenant_id,
            actor_id=actor.principal_id if isinstance(actor, Actor) else actor,
            target=target,
            request_id=request_id or (actor.request_id if isinstance(actor, Actor) else None),
            detail=detail,
        ),
    )
