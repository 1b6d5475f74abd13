"""Tenants, projects and principals: who owns what, and who acts.

A tenant is an organisation; a project is a workspace inside exactly one
tenant; a principal is a user or a service account inside exactly one tenant,
or a platform operator who belongs to none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qplane.domain.errors import ValidationFailed

_SLUG: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"
    OPERATOR = "operator"


class Role(StrEnum):
    """Coarse roles; fine-grained decisions belong to the policy engine."""

    OPERATOR = "operator"  # platform staff: tenants, projects, backends
    TENANT_ADMIN = "tenant_admin"  # manages a tenant's users and reads its audit
    MEMBER = "member"  # submits and reads jobs in the tenant's projects
    VIEWER = "viewer"  # reads jobs and results, submits nothing
    AUDITOR = "auditor"  # reads the tenant's audit log, and nothing else


#: The roles a tenant may grant (users, IdP mappings); `operator` is the platform's alone.
TENANT_ROLES: Final = frozenset({Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    max_running_jobs: int
    created_at: datetime
    #: IANA time zone: policies on "business hours" use the tenant's clock.
    timezone: str = "UTC"
    #: Where the tenant's data is homed (e.g. ``eu-west``); empty when unset.
    region: str = ""
    #: The plan sets the tenant's fair-share weight (see `qplane.domain.quotas.plan_weight`).
    plan: str = "standard"
    #: Regions the tenant's jobs and payloads may use; empty: any region.
    allowed_regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    tenant_id: str
    name: str
    created_at: datetime
    #: Regions this project's jobs may use, within the tenant's; empty: the tenant's.
    allowed_regions: tuple[str, ...] = ()


#: Membership granted by a tenant admin (as opposed to ``oidc:<id>`` / ``saml:<id>``).
MANUAL_MEMBERSHIP: Final = "manual"


@dataclass(frozen=True, slots=True)
class ProjectMember:
    """One reason *principal_id* may work in *project_id*.

    A principal can hold the same project through several sources (granted
    by hand and by an IdP group); each SSO login replaces only what its own
    provider granted, so removing someone from the IdP group removes that
    access without undoing an admin's explicit grant.
    """

    tenant_id: str
    project_id: str
    principal_id: str
    source: str
    created_at: datetime


_GROUP: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One reason *principal_id* is in the tenant group *group* (manual or an IdP)."""

    tenant_id: str
    group: str
    principal_id: str
    source: str
    created_at: datetime


def validate_group(value: str) -> str:
    """Group names as IdPs send them: letters, digits, '.', '_' and '-', up to 63."""
    if not _GROUP.match(value):
        raise ValidationFailed(
            "group must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="group",
        )
    return value


def is_group_name(value: str) -> bool:
    return bool(_GROUP.match(value))


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone or something that acts. Operators have ``tenant_id`` None."""

    id: str
    kind: PrincipalKind
    tenant_id: str | None
    email: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    disabled: bool = False

    @property
    def is_operator(self) -> bool:
        return Role.OPERATOR in self.roles and self.tenant_id is None


def validate_slug(value: str, what: str) -> str:
    """Names of tenants and projects are DNS-label-like slugs."""
    if not _SLUG.match(value):
        raise ValidationFailed(
            f"{what} must be 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit",
            field=what,
        )
    return value


def validate_timezone(value: str) -> str:
    """An IANA time-zone name the host's tz database knows (``Europe/Berlin``)."""
    try:
        if len(value) > 64 or not value or value.startswith(("/", ".")):
            raise ValueError(value)
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValidationFailed(
            "timezone must be an IANA time-zone name such as Europe/Berlin", field="timezone"
        ) from None
    return value


def validate_region(value: str) -> str:
    """Regions are short slugs (``eu-west``); empty means unset."""
    if value and (len(value) > 32 or not _SLUG.match(value)):
        raise ValidationFailed(
            "region must be up to 32 lowercase letters, digits or '-'", field="region"
        )
    return value


def validate_email(value: str) -> str:
    """Emails are login names; we check shape only, and fold case."""
    if not _EMAIL.match(value):
        raise ValidationFailed("email is not a valid address", field="email")
    return value.lower()


def validate_password(value: str) -> str:
    """A minimum length rule; the hash does the rest."""
    if len(value) < 12:
        raise ValidationFailed("password must be at least 12 characters", field="password")
    if len(value) > 1024:
        raise ValidationFailed("password must be at most 1024 characters", field="password")
    return value
