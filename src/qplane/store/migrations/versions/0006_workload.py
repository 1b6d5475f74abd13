"""Workload identity federation trust policies, token-exchange replay guard, DPoP.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "trust_policies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("audience", sa.String(255), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("max_ttl_s", sa.Integer(), nullable=False),
        sa.Column("require_dpop", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_policies"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_trust_policies_tenant_id_project_id_projects",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_trust_policies_principal_id_principals"
        ),
        sa.UniqueConstraint("principal_id", name="uq_trust_policies_principal_id"),
    )
    op.create_index("ix_trust_policies_project_issuer", "trust_policies", ["project_id", "issuer"])
    op.create_table(
        "seen_token_ids",
        sa.Column("namespace", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name="pk_seen_token_ids"),
    )
    op.create_index("ix_seen_token_ids_expires_at", "seen_token_ids", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_token_ids_expires_at", table_name="seen_token_ids")
    op.drop_table("seen_token_ids")
    op.drop_index("ix_trust_policies_project_issuer", table_name="trust_policies")
    op.drop_table("trust_policies")
