"""The hash chain: how an audit entry's hash is computed from its content and its predecessor.

Each entry's hash covers every recorded field *and* the previous entry's hash,
so editing, deleting, reordering or inserting an entry breaks the chain at
that point. There is one chain per tenant (named by the tenant id) and one
for platform events, so a tenant can verify its own chain without seeing
anyone else's entries.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Final

from qplane.domain.audit import AuditEntry, AuditEvent

GENESIS_HASH: Final = "0" * 64
PLATFORM_CHAIN: Final = "platform"


def chain_for(tenant_id: str | None) -> str:
    """The chain an event of this tenant (or of the platform) belongs to."""
    return tenant_id if tenant_id is not None else PLATFORM_CHAIN


def _canonical(entry_fields: dict[str, object]) -> bytes:
    return json.dumps(entry_fields, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(*, chain: str, seq: int, at: datetime, event: AuditEvent, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the entry's fields and its predecessor's hash."""
    fields: dict[str, object] = {
        "v": 1,
        "chain": chain,
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "action": event.action,
        "outcome": event.outcome.value,
        "tenant_id": event.tenant_id,
        "actor_id": event.actor_id,
        "target": event.target,
        "request_id": event.request_id,
        "detail": event.detail,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(fields)).hexdigest()


def recompute(entry: AuditEntry) -> str:
    """The hash an entry *should* carry, given its stored content."""
    event = AuditEvent(
        action=entry.action,
        outcome=entry.outcome,
        tenant_id=entry.tenant_id,
        actor_id=entry.actor_id,
        target=entry.target,
        request_id=entry.request_id,
        detail=entry.detail,
    )
    return entry_hash(
        chain=entry.chain, seq=entry.seq, at=entry.at, event=event, prev_hash=entry.prev_hash
    )
