"""The audit log's tables: entries (leaves), tree nodes, log heads, signed checkpoints,
per-tenant audit keys and break-glass elevations.

Deliberately no foreign keys: the log outlives every object it describes.
Only `audit_entries` holds content; nodes, heads and checkpoints are
hashes and signatures, which is why they carry no tenant column and are
not fenced (a tenant transaction appends a probe to the platform's log).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, Base

LOG = String(64)  # a tenant id, or "platform"


class AuditEntryRow(Base):
    """One leaf of a log. The columns are the entry; the leaf hash is recomputed from them."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_log_at", "log", "at"),
        Index("ix_audit_entries_log_actor", "log", "actor_id", "idx"),
        Index("ix_audit_entries_log_action", "log", "action", "idx"),
        Index("ix_audit_entries_log_job", "log", "job_id", "idx"),
        Index("ix_audit_entries_log_backend", "log", "backend", "idx"),
        Index("ix_audit_entries_log_decision", "log", "decision", "idx"),
        Index("ix_audit_entries_log_target", "log", "target", "idx"),
        Index("ix_audit_entries_tenant", "tenant_id"),
    )

    log: Mapped[str] = mapped_column(LOG, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    clock: Mapped[str] = mapped_column(String(96))
    action: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str | None] = mapped_column(ID)
    actor_id: Mapped[str | None] = mapped_column(ID)
    actor_kind: Mapped[str | None] = mapped_column(String(16))
    auth_method: Mapped[str | None] = mapped_column(String(64))
    elevation_id: Mapped[str | None] = mapped_column(ID)
    decision: Mapped[str | None] = mapped_column(String(8))
    policy_ids: Mapped[list[Any]] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(ID)
    backend: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(128))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    correlations: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditNodeRow(Base):
    """A perfect subtree's hash (level 0: a leaf hash); written once, never changed."""

    __tablename__ = "audit_nodes"

    log: Mapped[str] = mapped_column(LOG, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditLogRow(Base):
    """A log's head; its row lock serialises appenders to the log."""

    __tablename__ = "audit_logs"

    log: Mapped[str] = mapped_column(LOG, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    #: The compact range's hashes, concatenated (32 bytes per set bit of size).
    border: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Entries below this index were removed by retention (their leaf hashes remain).
    pruned_below: Mapped[int] = mapped_column(Integer, server_default="0")


class AuditCheckpointRow(Base):
    """A signed checkpoint of a log; the note is the evidence, the rest indexes it."""

    __tablename__ = "audit_checkpoints"

    log: Mapped[str] = mapped_column(LOG, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)


class AuditKeyRow(Base):
    """A tenant's audit HMAC key, sealed under the tenant's key ring."""

    __tablename__ = "audit_keys"

    tenant_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kek_ring: Mapped[str] = mapped_column(String(160))
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class ElevationRow(Base):
    """A break-glass elevation: one operator, one tenant, a reason and an expiry."""

    __tablename__ = "elevations"
    __table_args__ = (Index("ix_elevations_tenant", "tenant_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    operator_id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
