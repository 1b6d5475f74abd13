"""Audit records as the domain sees them: who did what to which object, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

#: The log of events that belong to no tenant (operators, workers, probes).
PLATFORM_LOG: Final = "platform"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


def log_for(tenant_id: str | None) -> str:
    """The log an event of this tenant (or of the platform) belongs to."""
    return tenant_id if tenant_id is not None else PLATFORM_LOG


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What a service asks the audit log to record (the log adds time, clock and position).

    Never put a sensitive value (circuit text, parameters, result data, a
    secret) in any field: where an entry must let equal values be matched
    up, pass their keyed digests in *correlations* (`qplane.audit.correlation`).
    """

    action: str
    outcome: Outcome
    tenant_id: str | None
    actor_id: str | None
    target: str | None
    request_id: str | None = None
    detail: str | None = None
    #: user, service, operator, worker, or None for the platform itself.
    actor_kind: str | None = None
    #: How the actor authenticated (its token's amr values, "api_key", "mtls").
    auth_method: str | None = None
    #: The break-glass elevation the actor acted under, if any.
    elevation_id: str | None = None
    #: "allow" or "deny" for an authorisation decision, else None.
    decision: str | None = None
    #: The policies that determined the decision (or allowed the change).
    policy_ids: tuple[str, ...] = ()
    job_id: str | None = None
    backend: str | None = None
    source_ip: str | None = None
    #: (what, "hmac-sha256:<hex>") pairs: keyed digests of sensitive values.
    correlations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry(AuditEvent):
    """A recorded event: leaf *index* of the Merkle log *log*, stamped *at* by *clock*."""

    log: str
    index: int
    at: datetime
    clock: str


@dataclass(frozen=True, slots=True)
class LogHead:
    """Where a log stands: its size and the right border of its tree (`CompactRange`)."""

    log: str
    size: int
    border: tuple[bytes, ...]
    root: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as kept: the note is the evidence, the rest is its index."""

    log: str
    size: int
    root_hash: bytes
    signed_at: datetime
    note: str
