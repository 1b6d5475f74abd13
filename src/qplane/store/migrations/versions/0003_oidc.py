"""OpenID Connect single sign-on: per-tenant identity providers, login flows, linked identities.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added by the change that introduces this capability."""


def downgrade() -> None:
    """Nothing to undo until tables are added."""
