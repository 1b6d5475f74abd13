"""Attributes the policy engine decides on: tenant time zone and region, job
data classification, and tenant groups.

* ``tenants.timezone`` (IANA name) lets "business hours" mean the tenant's
  hours; ``tenants.region`` is where the tenant's data is homed.
* ``jobs.classification`` is the data classification a submitter declares
  (public, internal, confidential, restricted); existing jobs are internal.
* ``principal_groups``: named groups of a tenant (an approvers group, IdP
  groups), one row per (principal, group, source) like project membership.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
        batch.add_column(sa.Column("region", sa.String(32), nullable=False, server_default=""))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("classification", sa.String(16), nullable=False, server_default="internal")
        )
    op.create_table(
        "principal_groups",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("group_name", sa.String(63), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "principal_id", "group_name", "source", name="pk_principal_groups"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_principal_groups_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_principal_groups_principal_id_principals"
        ),
    )
    op.create_index("ix_principal_groups_group", "principal_groups", ["tenant_id", "group_name"])


def downgrade() -> None:
    op.drop_index("ix_principal_groups_group", table_name="principal_groups")
    op.drop_table("principal_groups")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("classification")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("region")
        batch.drop_column("timezone")
