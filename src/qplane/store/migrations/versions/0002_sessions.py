"""Sessions: refresh-token families, revocation watermarks and deny-list, legacy API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.String(40)
_HASH = sa.String(128)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("family_id", _ID, nullable=False),
        sa.Column("token_hash", _HASH, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("acr", sa.String(255), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("family_started", sa.Integer(), nullable=False),
        sa.Column("dpop_jkt", sa.String(128), nullable=True),
        sa.Column("client_id", sa.String(255), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("rotated_at", _time(), nullable=True),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_principal_id", "refresh_tokens", ["principal_id"])
    op.create_index("ix_refresh_tokens_tenant_id", "refresh_tokens", ["tenant_id"])
    op.create_table(
        "revocation_watermarks",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject_id", _ID, nullable=False),
        sa.Column("not_before", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject_id", name="pk_revocation_watermarks"),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("owner", _ID, nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("jti", "owner", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("secret_hash", _HASH, nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_api_keys_tenant_id_project_id_projects",
        ),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_table("revocation_watermarks")
    op.drop_table("refresh_tokens")
