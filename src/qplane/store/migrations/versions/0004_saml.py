"""SAML 2.0 single sign-on: per-tenant SAML identity providers, replay protection.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added by the change that introduces this capability."""


def downgrade() -> None:
    """Nothing to undo until tables are added."""
