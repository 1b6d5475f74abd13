"""Tables for MFA (TOTP, recovery codes) and the device authorization grant.

Nothing here is usable as a credential on its own: a TOTP secret is stored
only sealed (envelope-encrypted under the tenant's key, or the platform key
for operators), recovery codes and device codes only as SHA-256 digests of
high-entropy values. The user code of a device grant is stored in clear: it
is useless without a logged-in approver and expires within minutes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import HASH, ID, Base


class TotpCredentialRow(Base):
    """One TOTP authenticator per principal; active once ``confirmed_at`` is set."""

    __tablename__ = "mfa_totp"

    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ID)
    kek_ring: Mapped[str] = mapped_column(String(160))
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    last_counter: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class RecoveryCodeRow(Base):
    """A single-use recovery code, by digest; ``used_at`` set when spent."""

    __tablename__ = "mfa_recovery_codes"

    code_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DeviceAuthorizationRow(Base):
    """One RFC 8628 device authorization, from request to (single) redemption."""

    __tablename__ = "device_authorizations"

    device_code_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    interval_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]
    principal_id: Mapped[str | None] = mapped_column(ID)
    tenant_id: Mapped[str | None] = mapped_column(ID)
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    acr: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[int | None] = mapped_column(Integer)
