"""Project membership and tenant group rows.

One row per (project, principal, source): a membership granted by an admin
(``manual``) and one derived from an identity provider's group mapping
(``oidc:<idp id>`` / ``saml:<provider id>``) are separate rows, so the next
SSO login can replace what that provider granted without touching what an
admin granted by hand.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, Base


class ProjectMemberRow(Base):
    __tablename__ = "project_members"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"]),
        # The request path's lookup: every project one principal belongs to.
        Index("ix_project_members_principal", "tenant_id", "principal_id"),
    )

    tenant_id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime]


class PrincipalGroupRow(Base):
    """A principal's membership of a named tenant group, per source (manual, an IdP)."""

    __tablename__ = "principal_groups"
    __table_args__ = (Index("ix_principal_groups_group", "tenant_id", "group_name"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime]
