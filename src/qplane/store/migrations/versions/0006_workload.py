"""Workload identity federation trust policies, token-exchange replay guard, DPoP.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added by the change that introduces this capability."""


def downgrade() -> None:
    """Nothing to undo until tables are added."""
