"""MFA credentials and device authorizations as the services see them.

Plain records: a TOTP secret appears here only sealed, recovery and device
codes only as digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class TotpCredential:
    """A principal's TOTP authenticator; ``confirmed_at`` None means enrolment pending."""

    principal_id: str
    tenant_id: str | None
    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes
    last_counter: int
    failures: int
    created_at: datetime
    confirmed_at: datetime | None
    kek_ring: str = ""

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None


class DeviceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REDEEMED = "redeemed"


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """An RFC 8628 device authorization; the device code is kept only as a digest."""

    device_code_hash: str
    user_code: str
    client_id: str
    status: DeviceStatus
    interval_s: int
    created_at: datetime
    expires_at: datetime
    last_polled_at: datetime | None = None
    principal_id: str | None = None
    tenant_id: str | None = None
    amr: tuple[str, ...] = ()
    acr: str | None = None
    auth_time: int | None = None
