"""The QPU as a scarce shared resource: fair share, quotas, device calendars,
calibrations, regions and regional payloads.

Jobs gain their region, priority, time limit, estimated and metered device
time, the calibration they ran under, and when they were dispatched and
started. Tenants gain a plan (their fair-share weight) and allowed regions;
projects allowed regions; workers a region. Artifacts may now live in a
regional blob store: their ciphertext column becomes optional, and a row
records the region and the blob's digest.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qplane.store.row_security import fence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_BACKEND = sa.String(64)
_WHEN = sa.DateTime(timezone=True)
_NEW_TENANT_TABLES = ("quotas", "fair_share", "reservations")


def upgrade() -> None:
    _add_columns()
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        for table in _NEW_TENANT_TABLES:
            for statement in fence(table, "tenant_id"):
                op.execute(statement)


def downgrade() -> None:
    for table in ("reservations", "device_windows", "calibrations", "device_clocks"):
        op.drop_table(table)
    op.drop_table("fair_share")
    op.drop_table("quotas")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("blob_digest")
        batch.drop_column("region")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("region")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("allowed_regions")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("allowed_regions")
        batch.drop_column("plan")
    op.drop_index("ix_jobs_tenant_dispatched", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in (
            "started_at",
            "dispatched_at",
            "calibration_id",
            "device_seconds",
            "estimated_s",
            "time_limit_s",
            "priority",
            "region",
        ):
            batch.drop_column(column)


def _add_columns() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("region", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(
            sa.Column("time_limit_s", sa.Integer(), nullable=False, server_default="600")
        )
        batch.add_column(sa.Column("estimated_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("device_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("calibration_id", _ID, nullable=True))
        batch.add_column(sa.Column("dispatched_at", _WHEN, nullable=True))
        batch.add_column(sa.Column("started_at", _WHEN, nullable=True))
    op.create_index("ix_jobs_tenant_dispatched", "jobs", ["tenant_id", "dispatched_at"])
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("plan", sa.String(32), nullable=False, server_default="standard")
        )
        batch.add_column(
            sa.Column("allowed_regions", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("allowed_regions", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("region", sa.String(32), nullable=False, server_default=""))
    with op.batch_alter_table("artifacts") as batch:
        batch.alter_column("ciphertext", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("region", sa.String(32), nullable=True))
        batch.add_column(sa.Column("blob_digest", sa.String(64), nullable=True))


def _create_tables() -> None:
    op.create_table(
        "quotas",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("running_jobs", sa.Integer(), nullable=True),
        sa.Column("queued_jobs", sa.Integer(), nullable=True),
        sa.Column("shots_per_day", sa.Integer(), nullable=True),
        sa.Column("qpu_seconds_per_month", sa.Float(), nullable=True),
        sa.Column("simulator_seconds_per_month", sa.Float(), nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "project_id", name="pk_quotas"),
        _tenant_fk("quotas"),
    )
    op.create_table(
        "fair_share",
        sa.Column("backend", _BACKEND, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("finish_tag", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("backend", "tenant_id", name="pk_fair_share"),
        _tenant_fk("fair_share"),
    )
    op.create_table(
        "device_clocks",
        sa.Column("backend", _BACKEND, nullable=False),
        sa.Column("virtual_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("backend", name="pk_device_clocks"),
    )
    op.create_table(
        "calibrations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("backend", _BACKEND, nullable=False),
        sa.Column("taken_at", _WHEN, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calibrations"),
    )
    op.create_index("ix_calibrations_backend_taken", "calibrations", ["backend", "taken_at"])
    op.create_table(
        "device_windows",
        sa.Column("id", _ID, nullable=False),
        sa.Column("backend", _BACKEND, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", _WHEN, nullable=False),
        sa.Column("ends_at", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_device_windows"),
    )
    op.create_index("ix_device_windows_backend_ends", "device_windows", ["backend", "ends_at"])
    op.create_table(
        "reservations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("backend", _BACKEND, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("starts_at", _WHEN, nullable=False),
        sa.Column("ends_at", _WHEN, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("cancelled_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        _tenant_fk("reservations"),
    )
    op.create_index("ix_reservations_backend_ends", "reservations", ["backend", "ends_at"])
    op.create_index("ix_reservations_tenant_id", "reservations", ["tenant_id"])


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants"
    )
