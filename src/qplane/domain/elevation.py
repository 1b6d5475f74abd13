"""Break-glass: an operator's time-boxed, reasoned elevation into one tenant's audit log.

Operators never read a tenant's data. In an incident they may need that
tenant's audit log; a `BreakGlassGrant` is the exception, made narrow and
visible: one operator, one tenant, a stated reason, a short life, asked for
after a recent second factor — and every read under it lands in the
tenant's own log, so the tenant sees who looked, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from qplane.domain.errors import ValidationFailed

#: Id prefix of an elevation (``elv_…``).
ELEVATION: Final = "elv"
#: How long an elevation lasts when the operator does not say.
DEFAULT_TTL: Final = timedelta(hours=1)
#: The longest elevation unless the platform is configured otherwise.
DEFAULT_MAX_TTL: Final = timedelta(hours=4)
#: A reason is evidence for the tenant, not an essay; longer ones are refused, not cut.
MAX_REASON: Final = 500


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    """One operator's elevation into one tenant, valid until *expires_at* (exclusive)."""

    id: str
    operator_id: str
    tenant_id: str
    reason: str
    created_at: datetime
    expires_at: datetime

    def admits(self, operator_id: str, tenant_id: str, now: datetime) -> bool:
        """Whether this grant lets *operator_id* read *tenant_id*'s log at *now*.

        Only its own operator, only its own tenant, only before it expires:
        an elevation is never lent, widened or extended.
        """
        return (
            self.operator_id == operator_id
            and self.tenant_id == tenant_id
            and self.created_at <= now < self.expires_at
        )


def check_reason(reason: str) -> str:
    """The reason as recorded: stripped, required, at most `MAX_REASON` characters."""
    stated = reason.strip()
    if not stated:
        raise ValidationFailed("say why the tenant's audit log must be read", field="reason")
    if len(stated) > MAX_REASON:
        raise ValidationFailed(f"the reason is limited to {MAX_REASON} characters", field="reason")
    return stated


def check_ttl(ttl: timedelta | None, max_ttl: timedelta) -> timedelta:
    """The elevation's life: `DEFAULT_TTL` (capped by *max_ttl*) unless given, then 1 s..max."""
    if ttl is None:
        return min(DEFAULT_TTL, max_ttl)
    if not timedelta(seconds=1) <= ttl <= max_ttl:
        limit = int(max_ttl.total_seconds())
        raise ValidationFailed(f"an elevation lasts 1 to {limit} seconds", field="ttl_s")
    return ttl
