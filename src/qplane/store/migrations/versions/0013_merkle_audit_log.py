"""The audit log becomes a Merkle tree per log (RFC 9162) with signed checkpoints,
replacing the per-chain hash links; per-tenant audit keys and break-glass elevations.

Existing entries move over in order: entry *seq* of a chain becomes leaf
*seq - 1* of the log of the same name, with the clock source recorded as
``migrated:hash-chain-v1``. The old chain was a weaker commitment (any
row could be recomputed by whoever rewrote the rest), so the move does not
carry its hashes: it takes the rows as they stand, which the operator can
check with the previous release's ``qplane audit verify`` before upgrading.
The leaf encoding and tree hashing are fixed by RFC 9162 and by
`qplane.audit.entry`'s versioned format, which is why this migration may
compute them with the application's own functions.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qplane.audit.entry import entry_leaf
from qplane.audit.merkle_tree import CompactRange
from qplane.domain.audit import AuditEntry, Outcome
from qplane.store._types import UTCDateTime
from qplane.store.row_security import fence, unfence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_LOG = sa.String(64)
_MIGRATED_CLOCK = "migrated:hash-chain-v1"
_OLD_INDEXES = (
    "ix_audit_entries_tenant_at",
    "ix_audit_entries_actor",
    "ix_audit_entries_action",
    "ix_audit_entries_target",
)
#: The old entries' columns that carry over unchanged.
_CARRIED = ("action", "outcome", "tenant_id", "actor_id", "target", "request_id", "detail")
_ENTRIES = sa.table(
    "audit_entries",
    sa.column("log", sa.String()),
    sa.column("idx", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("clock", sa.String()),
    sa.column("policy_ids", sa.JSON()),
    sa.column("correlations", sa.JSON()),
    *(sa.column(name, sa.String()) for name in _CARRIED),
)
_NODES = sa.table(
    "audit_nodes",
    sa.column("log", sa.String()),
    sa.column("level", sa.Integer()),
    sa.column("idx", sa.Integer()),
    sa.column("hash", sa.LargeBinary()),
)
_LOGS = sa.table(
    "audit_logs",
    sa.column("log", sa.String()),
    sa.column("size", sa.Integer()),
    sa.column("border", sa.LargeBinary()),
    sa.column("root", sa.LargeBinary()),
    sa.column("pruned_below", sa.Integer()),
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for statement in unfence("audit_entries"):
            op.execute(statement)
    for index in _OLD_INDEXES:
        op.drop_index(index, table_name="audit_entries")
    op.rename_table("audit_entries", "audit_chain_entries")
    if postgres:  # PostgreSQL's constraint names are schema objects and would collide
        op.execute(
            "ALTER TABLE audit_chain_entries RENAME CONSTRAINT pk_audit_entries "
            "TO pk_audit_chain_entries"
        )
    _create_tables()
    _move_chains()
    op.drop_table("audit_chain_entries")
    op.drop_table("audit_heads")
    if postgres:
        for statement in fence("audit_entries", "tenant_id", platform_writable=True):
            op.execute(statement)
        for table in ("audit_keys", "elevations"):
            for statement in fence(table, "tenant_id"):
                op.execute(statement)


def _create_tables() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("log", _LOG, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock", sa.String(96), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("actor_kind", sa.String(16), nullable=True),
        sa.Column("auth_method", sa.String(64), nullable=True),
        sa.Column("elevation_id", _ID, nullable=True),
        sa.Column("decision", sa.String(8), nullable=True),
        sa.Column("policy_ids", sa.JSON(), nullable=False),
        sa.Column("job_id", _ID, nullable=True),
        sa.Column("backend", sa.String(64), nullable=True),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("correlations", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("log", "idx", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_log_at", "audit_entries", ["log", "at"])
    for name, column in (
        ("actor", "actor_id"),
        ("action", "action"),
        ("job", "job_id"),
        ("backend", "backend"),
        ("decision", "decision"),
        ("target", "target"),
    ):
        op.create_index(f"ix_audit_entries_log_{name}", "audit_entries", ["log", column, "idx"])
    op.create_index("ix_audit_entries_tenant", "audit_entries", ["tenant_id"])
    op.create_table(
        "audit_nodes",
        sa.Column("log", _LOG, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("idx", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("log", "level", "idx", name="pk_audit_nodes"),
    )
    op.create_table(
        "audit_logs",
        sa.Column("log", _LOG, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("border", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("pruned_below", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("log", name="pk_audit_logs"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("log", _LOG, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "audit_keys",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("kek_ring", sa.String(160), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_audit_keys"),
    )
    op.create_table(
        "elevations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("operator_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_elevations"),
    )
    op.create_index("ix_elevations_tenant", "elevations", ["tenant_id"])


def _move_chains() -> None:
    bind = op.get_bind()
    old = sa.table(
        "audit_chain_entries",
        sa.column("chain", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("at", UTCDateTime()),
        *(sa.column(name, sa.String()) for name in _CARRIED),
    )
    for (chain,) in bind.execute(sa.select(old.c.chain).distinct()).all():
        border = CompactRange()
        rows = bind.execute(sa.select(old).where(old.c.chain == chain).order_by(old.c.seq))
        for position, row in enumerate(rows):
            entry = AuditEntry(
                log=chain,
                index=position,
                at=row.at,
                clock=_MIGRATED_CLOCK,
                action=row.action,
                outcome=Outcome(row.outcome),
                **{name: getattr(row, name) for name in _CARRIED[2:]},
            )
            bind.execute(
                sa.insert(_ENTRIES).values(
                    log=chain,
                    idx=position,
                    at=entry.at,
                    clock=entry.clock,
                    policy_ids=[],
                    correlations={},
                    **{name: getattr(row, name) for name in _CARRIED},
                )
            )
            bind.execute(
                sa.insert(_NODES),
                [
                    {"log": chain, "level": node.level, "idx": node.index, "hash": digest}
                    for node, digest in border.append(entry_leaf(entry))
                ],
            )
        bind.execute(
            sa.insert(_LOGS).values(
                log=chain,
                size=border.size,
                border=b"".join(border.hashes),
                root=border.root(),
                pruned_below=0,
            )
        )


def downgrade() -> None:
    raise NotImplementedError(
        "the Merkle audit log cannot be turned back into hash chains without rewriting "
        "its evidence; restore the pre-upgrade backup instead"
    )
