"""Writing to the audit log inside the caller's transaction."""

from __future__ import annotations

from qplane.audit.chain import GENESIS_HASH, chain_for, entry_hash
from qplane.domain.audit import AuditEntry, AuditEvent
from qplane.domain.clock import utcnow
from qplane.domain.ports import UnitOfWork


def record(uow: UnitOfWork, event: AuditEvent) -> AuditEntry:
    """Append *event* to its chain within *uow*'s transaction.

    The entry commits or rolls back together with the change it describes:
    there is no state change without its record, and no record of a change
    that did not happen. Locking the chain head serialises appenders, so two
    transactions can never both extend the same predecessor.
    """
    chain = chain_for(event.tenant_id)
    head = uow.audit.head_for_update(chain)
    seq, prev_hash = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
    at = utcnow()
    entry = AuditEntry(
        seq=seq,
        chain=chain,
        at=at,
        action=event.action,
        outcome=event.outcome,
        tenant_id=event.tenant_id,
        actor_id=event.actor_id,
        target=event.target,
        request_id=event.request_id,
        detail=event.detail,
        prev_hash=prev_hash,
        entry_hash=entry_hash(chain=chain, seq=seq, at=at, event=event, prev_hash=prev_hash),
    )
    uow.audit.append(entry)
    return entry
