"""Sessions: refresh-token families, revocation watermarks and deny-list, legacy API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added by the change that introduces this capability."""


def downgrade() -> None:
    """Nothing to undo until tables are added."""
