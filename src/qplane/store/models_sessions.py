"""Tables for sessions: refresh-token families, revocation, legacy API keys.

Secrets are never stored: refresh tokens and API keys appear only as
SHA-256 digests. Revocation rows carry no foreign keys on purpose: a
watermark must outlive (and may precede) the principal or tenant it cuts off.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import HASH, ID, NAME, Base


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_principal_id", "principal_id"),
        Index("ix_refresh_tokens_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    family_id: Mapped[str] = mapped_column(ID)
    token_hash: Mapped[str] = mapped_column(HASH, unique=True)
    principal_id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str | None] = mapped_column(ID)
    amr: Mapped[list[str]] = mapped_column(JSON)
    acr: Mapped[str] = mapped_column(String(255))
    auth_time: Mapped[int] = mapped_column(Integer)
    family_started: Mapped[int] = mapped_column(Integer)
    dpop_jkt: Mapped[str | None] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RevocationWatermarkRow(Base):
    """Tokens of *subject* issued before ``not_before`` (epoch seconds) are refused."""

    __tablename__ = "revocation_watermarks"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, primary_key=True)
    not_before: Mapped[int] = mapped_column(Integer)


class RevokedTokenRow(Base):
    """The jti deny-list; ``owner`` is a tenant id, or ``platform`` for operator entries."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(ID, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"]),
        Index("ix_api_keys_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    project_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(NAME)
    roles: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(HASH)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
