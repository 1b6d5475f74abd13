"""The request context: how the caller authenticated, when, from where, about what.

One shape for every action (the schema's ``RequestContext``), so a tenant
policy can test ``context.mfa`` or ``context.now`` on any action. Attributes
that may be unknown are left out rather than faked, and policies must test
them with ``has``: an unknown region is not the empty region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address, ip_address
from zoneinfo import ZoneInfo

from qplane.policy.entities import EntityRef, EntityType, JsonValue, to_cedar


@dataclass(frozen=True, slots=True)
class LocalTime:
    """Hour (0-23) and ISO weekday (1 = Monday .. 7 = Sunday) in a tenant's time zone."""

    hour: int
    weekday: int

    @classmethod
    def at(cls, moment: datetime, timezone: str) -> LocalTime:
        """The tenant-local time of *moment*; a naive datetime is refused, never guessed."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("the moment of a request must be timezone-aware")
        local = moment.astimezone(ZoneInfo(timezone))
        return cls(hour=local.hour, weekday=local.isoweekday())


@dataclass(frozen=True, slots=True)
class AuthFacts:
    """How the caller authenticated, as the identity layer established it.

    ``mfa`` is true only when a second factor was part of the authentication
    that ``auth_age_s`` measures; a token refresh moves neither.
    """

    mfa: bool
    auth_age_s: int
    step_up_max_age_s: int = 900
    region: str | None = None
    source_ip: str | None = None
    #: Set when the credential is confined to one project (legacy API key,
    #: federated workload token): nothing outside it is reachable.
    credential_project: str | None = None

    def __post_init__(self) -> None:
        if self.source_ip is not None:
            ip_address(self.source_ip)  # raises ValueError for anything but an address


@dataclass(frozen=True, slots=True)
class RequestContext:
    mfa: bool
    auth_age_s: int
    step_up_max_age_s: int
    now: LocalTime
    break_glass: bool = False
    region: str | None = None
    source_ip: IPv4Address | IPv6Address | None = None
    credential_project: str | None = None
    classification: str | None = None
    backend_kind: str | None = None
    backend_region: str | None = None
    qubits: int | None = None
    shots: int | None = None

    def to_cedar(self) -> dict[str, JsonValue]:
        """The context record; absent optional attributes are omitted, not nulled."""
        record: dict[str, JsonValue] = {
            "mfa": self.mfa,
            "auth_age_s": self.auth_age_s,
            "step_up_max_age_s": self.step_up_max_age_s,
            "now": {"hour": self.now.hour, "weekday": self.now.weekday},
            "break_glass": self.break_glass,
        }
        optional = {
            "region": self.region,
            "source_ip": self.source_ip,
            "credential_project": (
                EntityRef(EntityType.PROJECT, self.credential_project)
                if self.credential_project is not None
                else None
            ),
            "classification": self.classification,
            "backend_kind": self.backend_kind,
            "backend_region": self.backend_region,
            "qubits": self.qubits,
            "shots": self.shots,
        }
        for name, value in optional.items():
            if value is not None:
                record[name] = to_cedar(value)
        return record
