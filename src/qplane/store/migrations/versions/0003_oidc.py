"""OpenID Connect single sign-on: per-tenant identity providers, login flows, linked identities.

Written by hand to match `qplane.store.models_oidc`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_URL = sa.String(2048)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oidc_providers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("issuer", _URL, nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("token_auth_method", sa.String(32), nullable=True),
        sa.Column("secret_kek_version", sa.Integer(), nullable=False),
        sa.Column("secret_wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("allowed_domains", sa.JSON(), nullable=False),
        sa.Column("role_mappings", sa.JSON(), nullable=False),
        sa.Column("project_mappings", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_providers"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_oidc_providers_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_oidc_providers_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_oidc_providers_tenant_id_id"),
    )
    op.create_table(
        "oidc_login_flows",
        sa.Column("state_hash", sa.String(128), nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("redirect_uri", _URL, nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oidc_login_flows"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["oidc_providers.tenant_id", "oidc_providers.id"],
            name="fk_oidc_login_flows_tenant_id_provider_id_oidc_providers",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_oidc_login_flows_expires_at", "oidc_login_flows", ["expires_at"], unique=False
    )
    op.create_table(
        "oidc_identities",
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("issuer", _URL, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("project_ids", sa.JSON(), nullable=False),
        sa.Column("last_login_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", name="pk_oidc_identities"),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_oidc_identities_principal_id_principals"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_oidc_identities_tenant_id_tenants"
        ),
        sa.UniqueConstraint(
            "tenant_id", "issuer", "subject", name="uq_oidc_identities_tenant_id_issuer_subject"
        ),
    )


def downgrade() -> None:
    op.drop_table("oidc_identities")
    op.drop_index("ix_oidc_login_flows_expires_at", table_name="oidc_login_flows")
    op.drop_table("oidc_login_flows")
    op.drop_table("oidc_providers")
