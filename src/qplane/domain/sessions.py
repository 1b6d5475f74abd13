"""Sessions as the domain sees them: refresh tokens, revocations and legacy API keys.

Nothing here holds a usable secret: refresh tokens and API keys are kept
only as SHA-256 digests, so a copy of the database cannot act as anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a session (a *family*: every rotation shares ``family_id``).

    ``family_started`` (epoch seconds) is when the session began; revocation
    watermarks compare against it, so a refresh cannot outlive a revocation.
    ``expires_at`` is the family's absolute end: rotation never extends it.
    """

    id: str
    family_id: str
    token_hash: str
    principal_id: str
    tenant_id: str | None
    amr: tuple[str, ...]
    acr: str
    auth_time: int
    family_started: int
    dpop_jkt: str | None
    client_id: str | None
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


class RevocationScope(StrEnum):
    PRINCIPAL = "principal"
    TENANT = "tenant"
    TOKEN = "token"
    WORKER = "worker"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A legacy static key: one project, an expiry, a digest of its secret."""

    id: str
    tenant_id: str
    project_id: str
    name: str
    roles: frozenset[str]
    secret_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
