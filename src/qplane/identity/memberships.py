"""IdP groups, applied: an SSO login sets the projects and groups its IdP grants.

Why a separate source per provider: each login replaces exactly what that
provider granted the user before — so leaving the IdP group takes the
project away at the next login — and never touches memberships an admin
granted by hand or another provider granted.

A mapping whose project has since disappeared grants nothing rather than
failing the login.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from qplane.broker.auditing import audit
from qplane.domain.ports import UnitOfWork
from qplane.domain.tenancy import is_group_name

#: At most this many IdP groups are kept per login (the rest are ignored).
MAX_GROUPS: Final = 100


def provider_source(protocol: str, provider_id: str) -> str:
    """The membership source of one identity provider, e.g. ``oidc:idp_…``."""
    return f"{protocol}:{provider_id}"


def sync_projects(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    principal_id: str,
    source: str,
    project_ids: Iterable[str],
    now: datetime,
    request_id: str | None = None,
) -> None:
    """Make *source*'s memberships of *principal_id* exactly *project_ids*; audit a change."""
    existing = {project.id for project in uow.projects.for_tenant(tenant_id)}
    wanted = frozenset(project_ids) & existing
    added, removed = uow.project_members.replace_source(
        tenant_id, principal_id, source, wanted, now
    )
    if added or removed:
        audit(
            uow,
            None,
            "project.member.sync",
            tenant_id=tenant_id,
            target=principal_id,
            detail=(
                f"via {source}; added={','.join(sorted(added)) or '-'} "
                f"removed={','.join(sorted(removed)) or '-'}"
            )[:500],
            request_id=request_id,
        )


def idp_groups(claims: Mapping[str, object], claim: str = "groups") -> frozenset[str]:
    """The usable group names in the IdP's *claim* (a string or a list of strings).

    Names policies could not refer to (spaces, odd characters) are skipped
    rather than failing the login; so is anything past `MAX_GROUPS`.
    """
    value = claims.get(claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    names = sorted({v for v in values if isinstance(v, str) and is_group_name(v)})
    return frozenset(names[:MAX_GROUPS])


def sync_groups(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    principal_id: str,
    source: str,
    groups: frozenset[str],
    now: datetime,
    request_id: str | None = None,
) -> None:
    """Make *source*'s tenant groups of *principal_id* exactly *groups*; audit a change."""
    added, removed = uow.groups.replace_source(tenant_id, principal_id, source, groups, now)
    if added or removed:
        audit(
            uow,
            None,
            "group.member.sync",
            tenant_id=tenant_id,
            target=principal_id,
            detail=(
                f"via {source}; added={','.join(sorted(added)) or '-'} "
                f"removed={','.join(sorted(removed)) or '-'}"
            )[:500],
            request_id=request_id,
        )
