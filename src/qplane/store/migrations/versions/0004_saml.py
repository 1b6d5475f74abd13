"""SAML 2.0 single sign-on: per-tenant SAML identity providers, replay protection.

Written by hand to match `qplane.store.models_saml`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_DIGEST = sa.String(64)
_ENTITY = sa.String(1024)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "saml_providers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("entity_id", _ENTITY, nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("metadata_url", sa.Text(), nullable=True),
        sa.Column("email_attribute", sa.String(255), nullable=False),
        sa.Column("allowed_domains", sa.JSON(), nullable=False),
        sa.Column("role_rules", sa.JSON(), nullable=False),
        sa.Column("project_rules", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_saml_providers"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_saml_providers_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", "entity_id", name="uq_saml_providers_tenant_id_entity_id"),
    )
    op.create_table(
        "saml_login_requests",
        sa.Column("relay_state_hash", _DIGEST, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("relay_state_hash", name="pk_saml_login_requests"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_saml_login_requests_tenant_id_tenants"
        ),
    )
    op.create_index("ix_saml_login_requests_expires_at", "saml_login_requests", ["expires_at"])
    op.create_table(
        "saml_seen_assertions",
        sa.Column("assertion_hash", _DIGEST, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("assertion_hash", name="pk_saml_seen_assertions"),
    )
    op.create_index("ix_saml_seen_assertions_expires_at", "saml_seen_assertions", ["expires_at"])
    op.create_table(
        "saml_identities",
        sa.Column("subject_hash", _DIGEST, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("idp_entity_id", _ENTITY, nullable=False),
        sa.Column("name_id", _ENTITY, nullable=False),
        sa.Column("principal_id", _ID, nullable=False),
        sa.Column("project_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("subject_hash", name="pk_saml_identities"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_saml_identities_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name="fk_saml_identities_principal_id_principals"
        ),
        sa.UniqueConstraint("principal_id", name="uq_saml_identities_principal_id"),
    )


def downgrade() -> None:
    op.drop_table("saml_identities")
    op.drop_index("ix_saml_seen_assertions_expires_at", table_name="saml_seen_assertions")
    op.drop_table("saml_seen_assertions")
    op.drop_index("ix_saml_login_requests_expires_at", table_name="saml_login_requests")
    op.drop_table("saml_login_requests")
    op.drop_table("saml_providers")
