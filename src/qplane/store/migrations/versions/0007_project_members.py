"""Project membership: which users may work in which project of their tenant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "project_members",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "project_id", "principal_id", "source", name="pk_project_members"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_project_members_tenant_id_project_id_projects",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_project_members_principal_id_principals"
        ),
    )
    op.create_index(
        "ix_project_members_principal", "project_members", ["tenant_id", "principal_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_project_members_principal", table_name="project_members")
    op.drop_table("project_members")
