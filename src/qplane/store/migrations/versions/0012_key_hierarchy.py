"""The key hierarchy: key rings (per tenant, optionally per project and environment)
with numbered KEK versions, replacing the flat ``tenant_keys`` and ``platform_keys``.

Existing keys move over unchanged: each tenant's KEKs become versions of
the ring ``<tenant>/*``, the platform's become ``platform/mfa``, all marked
``aad_format = 1`` because they were wrapped (and wrapped their data keys)
under associated data that did not yet name a ring. Every sealed column
gains the ring its data key is wrapped under.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from qplane.store.row_security import fence, unfence

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_RING = sa.String(160)
_NEW_TABLES = ("key_rings", "key_versions", "key_shred_requests")


def upgrade() -> None:
    op.create_table(
        "key_rings",
        sa.Column("name", _RING, nullable=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("project_id", _ID, nullable=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_config", sa.Text(), nullable=False, server_default=""),
        sa.Column("min_decrypt_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_key_rings"),
    )
    op.create_index("ix_key_rings_tenant", "key_rings", ["tenant_id"])
    op.create_table(
        "key_versions",
        sa.Column("ring", _RING, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("aad_format", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False, server_default="local"),
        sa.Column("provider_config", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ring", "version", name="pk_key_versions"),
        sa.ForeignKeyConstraint(
            ["ring"], ["key_rings.name"], name="fk_key_versions_ring_key_rings"
        ),
    )
    op.create_table(
        "key_shred_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("ring", _RING, nullable=False),
        sa.Column("requested_by", _ID, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approved_by", _ID, nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_key_shred_requests"),
    )
    _move_keys()
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("kek_ring", _RING, nullable=False, server_default=""))
    with op.batch_alter_table("mfa_totp") as batch:
        batch.add_column(sa.Column("kek_ring", _RING, nullable=False, server_default=""))
    with op.batch_alter_table("oidc_providers") as batch:
        batch.add_column(sa.Column("secret_kek_ring", _RING, nullable=False, server_default=""))
    op.execute("UPDATE artifacts SET kek_ring = tenant_id || '/*'")
    op.execute("UPDATE oidc_providers SET secret_kek_ring = tenant_id || '/*'")
    op.execute(
        "UPDATE mfa_totp SET kek_ring = CASE WHEN tenant_id IS NULL THEN 'platform/mfa'"
        " ELSE tenant_id || '/*' END"
    )
    op.drop_table("tenant_keys")
    op.drop_table("platform_keys")
    if op.get_bind().dialect.name == "postgresql":
        for table in _NEW_TABLES:
            for statement in fence(table, "tenant_id"):
                op.execute(statement)


def _move_keys() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    tenant_keys = bind.execute(
        sa.text("SELECT tenant_id, version, wrapped, created_at FROM tenant_keys")
    ).all()
    platform_keys = bind.execute(
        sa.text("SELECT owner, version, wrapped, created_at FROM platform_keys")
    ).all()
    rings: dict[str, str | None] = {}
    versions = []
    for tenant_id, version, wrapped, created_at in tenant_keys:
        rings[f"{tenant_id}/*"] = tenant_id
        versions.append((f"{tenant_id}/*", tenant_id, version, wrapped, created_at))
    for _owner, version, wrapped, created_at in platform_keys:
        rings["platform/mfa"] = None
        versions.append(("platform/mfa", None, version, wrapped, created_at))
    for name, tenant_id in rings.items():
        bind.execute(
            sa.text(
                "INSERT INTO key_rings (name, tenant_id, project_id, environment, provider,"
                " provider_config, min_decrypt_version, state, created_at)"
                " VALUES (:n, :t, NULL, 'default', 'local', '', 1, 'active', :at)"
            ),
            {"n": name, "t": tenant_id, "at": now},
        )
    for ring, tenant_id, version, wrapped, created_at in versions:
        bind.execute(
            sa.text(
                "INSERT INTO key_versions (ring, version, tenant_id, state, material,"
                " aad_format, created_at) VALUES (:r, :v, :t, 'active', :m, 1, :at)"
            ),
            {"r": ring, "v": version, "t": tenant_id, "m": wrapped, "at": created_at},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _NEW_TABLES:
            for statement in unfence(table):
                op.execute(statement)
    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_tenant_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_keys_tenant_id_tenants"
        ),
    )
    op.create_table(
        "platform_keys",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "version", name="pk_platform_keys"),
    )
    # Only keys in the pre-ring format can go back; newer ones have no older home.
    op.execute(
        "INSERT INTO tenant_keys (tenant_id, version, wrapped, created_at)"
        " SELECT tenant_id, version, material, created_at FROM key_versions"
        " WHERE aad_format = 1 AND material IS NOT NULL AND tenant_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO platform_keys (owner, version, wrapped, created_at)"
        " SELECT 'platform', version, material, created_at FROM key_versions"
        " WHERE aad_format = 1 AND material IS NOT NULL AND ring = 'platform/mfa'"
    )
    with op.batch_alter_table("oidc_providers") as batch:
        batch.drop_column("secret_kek_ring")
    with op.batch_alter_table("mfa_totp") as batch:
        batch.drop_column("kek_ring")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("kek_ring")
    op.drop_table("key_shred_requests")
    op.drop_table("key_versions")
    op.drop_index("ix_key_rings_tenant", table_name="key_rings")
    op.drop_table("key_rings")
