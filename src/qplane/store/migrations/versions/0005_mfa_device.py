"""MFA (TOTP, recovery codes), the platform key and the device authorization grant.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_HASH = sa.String(128)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mfa_totp",
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("last_counter", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("confirmed_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("principal_id", name="pk_mfa_totp"),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_mfa_totp_principal_id_principals"
        ),
    )
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("code_hash", _HASH, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("used_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_mfa_recovery_codes"),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name="fk_mfa_recovery_codes_principal_id_principals",
        ),
    )
    op.create_index("ix_mfa_recovery_codes_principal_id", "mfa_recovery_codes", ["principal_id"])
    op.create_table(
        "platform_keys",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "version", name="pk_platform_keys"),
    )
    op.create_table(
        "device_authorizations",
        sa.Column("device_code_hash", _HASH, nullable=False),
        sa.Column("user_code", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("last_polled_at", _time(), nullable=True),
        sa.Column("principal_id", _ID, nullable=True),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("amr", sa.JSON(), nullable=True),
        sa.Column("acr", sa.String(255), nullable=True),
        sa.Column("auth_time", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash", name="pk_device_authorizations"),
        sa.UniqueConstraint("user_code", name="uq_device_authorizations_user_code"),
    )
    op.create_index("ix_device_authorizations_expires_at", "device_authorizations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_device_authorizations_expires_at", table_name="device_authorizations")
    op.drop_table("device_authorizations")
    op.drop_table("platform_keys")
    op.drop_index("ix_mfa_recovery_codes_principal_id", table_name="mfa_recovery_codes")
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_totp")
