"""Browser-bound single sign-on and the device verification page's browser sessions.

* ``oidc_login_flows`` and ``saml_login_requests`` gain ``binding_hash`` (the
  digest of the cookie set in the browser that started the login) and
  ``browser_session`` (the device page session the login signs in, if any).
  Logins in flight when the schema is upgraded have no binding and could
  never complete, so they are deleted first (they live minutes anyway).
* ``browser_sessions``: the device page's short-lived sessions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(40)
_HASH = sa.String(128)
_DIGEST = sa.String(64)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _recreate() -> Literal["auto", "always"]:
    """SQLite cannot add a NOT NULL column without a default in place: copy the table there."""
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def _bind(table: str, digest: sa.String) -> None:
    op.execute(sa.table(table).delete())  # unbound logins in flight cannot complete
    with op.batch_alter_table(table, recreate=_recreate()) as batch:
        batch.add_column(sa.Column("binding_hash", digest, nullable=False))
        batch.add_column(sa.Column("browser_session", digest, nullable=True))


def upgrade() -> None:
    _bind("oidc_login_flows", _HASH)
    _bind("saml_login_requests", _DIGEST)
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", _HASH, nullable=False),
        sa.Column("csrf_hash", _HASH, nullable=False),
        sa.Column("user_code", sa.String(16), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("principal_id", _ID, nullable=True),
        sa.Column("tenant_id", _ID, nullable=True),
        sa.Column("amr", sa.JSON(), nullable=True),
        sa.Column("acr", sa.String(255), nullable=True),
        sa.Column("auth_time", sa.Integer(), nullable=True),
        sa.Column("signed_in_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name="pk_browser_sessions"),
    )
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    for table in ("saml_login_requests", "oidc_login_flows"):
        with op.batch_alter_table(table, recreate=_recreate()) as batch:
            batch.drop_column("browser_session")
            batch.drop_column("binding_hash")
