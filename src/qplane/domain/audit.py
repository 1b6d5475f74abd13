"""Audit records as the domain sees them: who did what to which object, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What a service asks the audit log to record (the log adds time, order and hashes)."""

    action: str
    outcome: Outcome
    tenant_id: str | None
    actor_id: str | None
    target: str | None
    request_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A recorded, hash-chained event."""

    seq: int
    chain: str
    at: datetime
    action: str
    outcome: Outcome
    tenant_id: str | None
    actor_id: str | None
    target: str | None
    request_id: str | None
    detail: str | None
    prev_hash: str
    entry_hash: str
