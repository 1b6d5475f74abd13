"""The table behind the device verification page's browser sessions (RFC 8628 §3.3).

``browser_sessions`` rows are keyed by the SHA-256 of the session cookie and
hold only the digest of the CSRF token the next form must carry, so a
database reader can neither ride a session nor forge its forms. Once the
person signs in, the row records how (principal, ``amr``, ``acr``,
``auth_time``) — never a token. Rows live minutes and are deleted when the
approval (or denial) uses them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import HASH, ID, Base


class BrowserSessionRow(Base):
    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    csrf_hash: Mapped[str] = mapped_column(HASH)
    user_code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    principal_id: Mapped[str | None] = mapped_column(ID)
    tenant_id: Mapped[str | None] = mapped_column(ID)
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    acr: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[int | None] = mapped_column(Integer)
    signed_in_at: Mapped[datetime | None]
