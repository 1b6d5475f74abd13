"""Key rings and KEK versions: the middle of the key hierarchy (root → KEK → data key).

Only provider *material* is stored: for the local provider a KEK wrapped
under the root key, for an HSM a reference to a non-extractable key object.
Erased material (a retired or shredded version) is NULL, so the rows remain
as evidence of what existed without anything that could still decrypt.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, Base

RING_NAME = String(160)


class KeyRingRow(Base):
    __tablename__ = "key_rings"
    __table_args__ = (Index("ix_key_rings_tenant", "tenant_id"),)

    name: Mapped[str] = mapped_column(RING_NAME, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ID)
    project_id: Mapped[str | None] = mapped_column(ID)
    environment: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    provider_config: Mapped[str] = mapped_column(Text)
    min_decrypt_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    shredded_at: Mapped[datetime | None]


class ShredRequestRow(Base):
    __tablename__ = "key_shred_requests"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    ring: Mapped[str] = mapped_column(RING_NAME)
    requested_by: Mapped[str] = mapped_column(ID)
    requested_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16))
    approved_by: Mapped[str | None] = mapped_column(ID)
    approved_at: Mapped[datetime | None]


class KeyVersionRow(Base):
    __tablename__ = "key_versions"

    ring: Mapped[str] = mapped_column(ForeignKey("key_rings.name"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: Copied from the ring so row-level security can fence versions by tenant.
    tenant_id: Mapped[str | None] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(16))
    material: Mapped[bytes | None] = mapped_column(LargeBinary)
    aad_format: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(32))
    provider_config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
