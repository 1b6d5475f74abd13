"""Tenant policy versions and each tenant's policy settings.

* ``policy_versions``: one row per push, keyed ``(tenant_id, version)``.
  The text, cases, author, reason, diff, digest and test report are written
  once; the repository only ever changes the status, approval and
  activation columns. A check constraint keeps a version whose tests failed
  out of every other status, whatever the code above does.
* ``policy_settings``: one row per tenant that changed a setting or
  activated a version; it points at the active version by
  ``(tenant_id, version)``, so it can never point into another tenant, and
  its row lock makes pushes and activations of one tenant take turns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, ForeignKeyConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from qplane.store.models import Base

DIGEST = String(64)  # SHA-256, hex


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('tests_failed', 'pending_approval', 'active', 'superseded')",
            name="status",
        ),
        CheckConstraint(
            "(tests_passed AND status <> 'tests_failed') "
            "OR (NOT tests_passed AND status = 'tests_failed')",
            name="failed_never_active",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    policy_text: Mapped[str] = mapped_column(Text)
    cases_text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(ForeignKey("principals.id"))
    reason: Mapped[str] = mapped_column(String(500))
    diff: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(DIGEST)
    created_at: Mapped[datetime]
    tests_passed: Mapped[bool] = mapped_column(Boolean)
    tests_total: Mapped[int] = mapped_column(Integer)
    tests_failed: Mapped[int] = mapped_column(Integer)
    test_summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24))
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("principals.id"))
    approved_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]


class PolicySettingsRow(Base):
    __tablename__ = "policy_settings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "active_version"],
            ["policy_versions.tenant_id", "policy_versions.version"],
        ),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    require_approval: Mapped[bool] = mapped_column(Boolean)
    active_version: Mapped[int | None] = mapped_column(Integer)
    active_digest: Mapped[str | None] = mapped_column(DIGEST)
    updated_at: Mapped[datetime]
