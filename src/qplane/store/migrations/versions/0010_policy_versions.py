"""Tenant policy versions (immutable pushes) and per-tenant policy settings.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_DIGEST = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("cases_text", sa.Text(), nullable=False),
        sa.Column("author_id", _ID, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("digest", _DIGEST, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tests_passed", sa.Boolean(), nullable=False),
        sa.Column("tests_total", sa.Integer(), nullable=False),
        sa.Column("tests_failed", sa.Integer(), nullable=False),
        sa.Column("test_summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("approved_by", _ID, nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_policy_versions"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_policy_versions_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["principals.id"], name="fk_policy_versions_author_id_principals"
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["principals.id"], name="fk_policy_versions_approved_by_principals"
        ),
        sa.CheckConstraint(
            "status IN ('tests_failed', 'pending_approval', 'active', 'superseded')",
            name="ck_policy_versions_status",
        ),
        sa.CheckConstraint(
            "(tests_passed AND status <> 'tests_failed') "
            "OR (NOT tests_passed AND status = 'tests_failed')",
            name="ck_policy_versions_failed_never_active",
        ),
    )
    op.create_table(
        "policy_settings",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=True),
        sa.Column("active_digest", _DIGEST, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_policy_settings"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_policy_settings_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "active_version"],
            ["policy_versions.tenant_id", "policy_versions.version"],
            name="fk_policy_settings_tenant_id_active_version_policy_versions",
        ),
    )


def downgrade() -> None:
    op.drop_table("policy_settings")
    op.drop_table("policy_versions")
