"""Tables for workload identity federation trust policies and the one-time-use guard.

* ``trust_policies``: one row per trust policy; it points at its project and
  its service principal by ``(tenant_id, id)``-safe foreign keys.
* ``seen_token_ids``: ids of external tokens (RFC 8693 subject tokens) and
  DPoP proofs already accepted, kept until they could no longer be accepted
  anyway. The key is a hash, so no token content is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, NAME, Base


class TrustPolicyRow(Base):
    __tablename__ = "trust_policies"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"]),
        # The exchange path's lookup: the policies of one project for one issuer.
        Index("ix_trust_policies_project_issuer", "project_id", "issuer"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    project_id: Mapped[str] = mapped_column(ID)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), unique=True)
    name: Mapped[str] = mapped_column(NAME)
    issuer: Mapped[str] = mapped_column(String(255))
    audience: Mapped[str] = mapped_column(String(255))
    conditions: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    roles: Mapped[list[str]] = mapped_column(JSON)
    max_ttl_s: Mapped[int] = mapped_column(Integer)
    require_dpop: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class SeenTokenIdRow(Base):
    __tablename__ = "seen_token_ids"

    namespace: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex
    expires_at: Mapped[datetime] = mapped_column(index=True)
