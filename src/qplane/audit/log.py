"""Writing to the audit log inside the caller's transaction."""

from __future__ import annotations

import os
from dataclasses import fields

from qplane.audit.clock import ClockSource
from qplane.audit.entry import entry_leaf
from qplane.audit.merkle_tree import CompactRange
from qplane.domain.audit import AuditEntry, AuditEvent, LogHead, log_for
from qplane.domain.clock import utcnow
from qplane.domain.ports import UnitOfWork

#: The clock every entry names (``QPLANE_AUDIT_CLOCK_SOURCE`` overrides the kernel's).
CLOCK = ClockSource(os.environ.get("QPLANE_AUDIT_CLOCK_SOURCE") or None)


def record(uow: UnitOfWork, event: AuditEvent) -> AuditEntry:
    """Append *event* as the next leaf of its log within *uow*'s transaction.

    The entry commits or rolls back together with the change it describes:
    there is no state change without its record, and no record of a change
    that did not happen. Locking the log's head serialises appenders, so
    two transactions can never take the same leaf index; the head carries
    the tree's right border, so an append hashes O(1) nodes amortised and
    reads nothing else.
    """
    log = log_for(event.tenant_id)
    head = uow.audit.head_for_update(log)
    border = CompactRange() if head is None else CompactRange(head.size, head.border)
    carried = {field.name: getattr(event, field.name) for field in fields(event)}
    carried["correlations"] = tuple(sorted(event.correlations))
    entry = AuditEntry(log=log, index=border.size, at=utcnow(), clock=CLOCK.describe(), **carried)
    completed = border.append(entry_leaf(entry))
    uow.audit.append(
        entry,
        [(node.level, node.index, digest) for node, digest in completed],
        LogHead(log, border.size, border.hashes, border.root()),
    )
    return entry
