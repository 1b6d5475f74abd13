"""The initial qplane schema.

Written by hand to match `qplane.store.models` (tests/store checks that the
migrated database and the models agree). Constraint names follow the
models' naming convention so later migrations can refer to them.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_NAME = sa.String(63)
_HASH = sa.String(128)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _tenancy()
    _jobs()
    _execution()
    _audit()


def _tenancy() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("max_running_jobs", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "projects",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_projects_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_projects_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_projects_tenant_id_id"),
    )
    op.create_table(
        "principals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_principals_tenant_id_tenants"
        ),
        sa.UniqueConstraint("email", name="uq_principals_email"),
    )
    op.create_index("ix_principals_tenant_id", "principals", ["tenant_id"])
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_tenant_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_keys_tenant_id_tenants"
        ),
    )


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("shots", sa.Integer(), nullable=False),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("qubits", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_jobs_tenant_id_project_id_projects",
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_jobs_tenant_id_id"),
    )
    op.create_index(
        "ix_jobs_tenant_project_created", "jobs", ["tenant_id", "project_id", "created_at"]
    )
    op.create_index(
        "ix_jobs_state_backend_tenant_created",
        "jobs",
        ["state", "backend", "tenant_id", "created_at"],
    )
    op.create_table(
        "job_transitions",
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_job_transitions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["jobs.tenant_id", "jobs.id"],
            name="fk_job_transitions_tenant_id_job_id_jobs",
        ),
    )
    op.create_table(
        "artifacts",
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "kind", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["jobs.tenant_id", "jobs.id"],
            name="fk_artifacts_tenant_id_job_id_jobs",
        ),
    )


def _execution() -> None:
    op.create_table(
        "workers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("backends", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
        sa.UniqueConstraint("name", name="uq_workers_name"),
    )
    op.create_table(
        "leases",
        sa.Column("id", _ID, nullable=False),
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("worker_id", _ID, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leases"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["jobs.tenant_id", "jobs.id"],
            name="fk_leases_tenant_id_job_id_jobs",
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name="fk_leases_worker_id_workers"),
        sa.UniqueConstraint("job_id", name="uq_leases_job_id"),
    )
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"])
    scheduler_state = op.create_table(
        "scheduler_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cursor_tenant_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scheduler_state"),
        sa.CheckConstraint("id = 1", name="ck_scheduler_state_single_row"),
    )
    # The one row whose lock makes concurrent schedulers take turns.
    op.bulk_insert(scheduler_state, [{"id": 1, "cursor_tenant_id": None}])


def _audit() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", _HASH, nullable=False),
        sa.Column("entry_hash", _HASH, nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_tenant_at", "audit_entries", ["tenant_id", "at"])
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor_id"])
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_index("ix_audit_entries_target", "audit_entries", ["target"])
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", _HASH, nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_heads"),
    )


def downgrade() -> None:
    for table in (
        "audit_heads",
        "audit_entries",
        "scheduler_state",
        "leases",
        "workers",
        "artifacts",
        "job_transitions",
        "jobs",
        "tenant_keys",
        "principals",
        "projects",
        "tenants",
    ):
        op.drop_table(table)
