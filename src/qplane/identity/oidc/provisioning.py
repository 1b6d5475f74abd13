"""Just-in-time provisioning: an IdP account becomes (or updates) a principal of the tenant.

Security properties:

* The link is ``(tenant, issuer, sub)``, never the email: an IdP that
  reassigns an address to someone else cannot take over the old account,
  and the same email at another tenant's IdP is another person.
* Roles come from the IdP on every login and replace the stored ones, so
  removing a user from the mapped group demotes them at their next login
  (and `Authenticator` reads roles from the record on every request).
* A new account never takes over an existing principal that holds the same
  email (a local account, or another tenant's user): the login is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from qplane.broker.auditing import audit
from qplane.domain import ids
from qplane.domain.errors import NotFound, Unauthenticated
from qplane.domain.oidc import IdentityProvider, LinkedIdentity
from qplane.domain.ports import UnitOfWork
from qplane.domain.tenancy import Principal, PrincipalKind, Role
from qplane.identity.memberships import provider_source, sync_groups, sync_projects


def provision(
    uow: UnitOfWork,
    provider: IdentityProvider,
    *,
    subject: str,
    email: str,
    roles: frozenset[str],
    project_ids: tuple[str, ...],
    now: datetime,
    request_id: str | None,
    groups: frozenset[str] = frozenset(),
) -> Principal:
    """The principal for this IdP account with *roles* applied, created on first login."""
    link = LinkedIdentity(
        principal_id="",
        tenant_id=provider.tenant_id,
        issuer=provider.issuer,
        subject=subject,
        email=email,
        project_ids=project_ids,
        last_login_at=now,
    )
    granted = frozenset(Role(role) for role in roles)
    existing = uow.oidc_identities.by_subject(provider.tenant_id, provider.issuer, subject)
    if existing is None:
        principal = _create(uow, provider, link, granted, request_id)
        _sync_access(uow, provider, principal.id, project_ids, groups, now, request_id)
        return principal
    try:
        principal = uow.principals.get(provider.tenant_id, existing.principal_id)
    except NotFound:
        raise Unauthenticated("linked account no longer exists") from None
    if principal.disabled:
        raise Unauthenticated("principal is disabled")
    uow.oidc_identities.record_login(replace(link, principal_id=principal.id), roles)
    _sync_access(uow, provider, principal.id, project_ids, groups, now, request_id)
    if principal.roles != granted:
        audit(
            uow,
            None,
            "user.roles.sync",
            tenant_id=provider.tenant_id,
            target=principal.id,
            detail=f"roles={','.join(sorted(roles))} from {provider.name}",
            request_id=request_id,
        )
    return replace(principal, roles=granted)


def cut_off(
    uow: UnitOfWork,
    provider: IdentityProvider,
    *,
    subject: str,
    now: datetime,
    request_id: str | None,
) -> None:
    """An IdP account that no longer maps: strip what it had (roles, mapped projects)."""
    existing = uow.oidc_identities.by_subject(provider.tenant_id, provider.issuer, subject)
    if existing is None:
        return
    uow.oidc_identities.record_login(
        replace(existing, project_ids=(), last_login_at=now), frozenset()
    )
    _sync_access(uow, provider, existing.principal_id, (), frozenset(), now, request_id)
    audit(
        uow,
        None,
        "user.roles.sync",
        tenant_id=provider.tenant_id,
        target=existing.principal_id,
        detail=f"roles= (no longer mapped by {provider.name})",
        request_id=request_id,
    )


def _sync_access(
    uow: UnitOfWork,
    provider: IdentityProvider,
    principal_id: str,
    project_ids: tuple[str, ...],
    groups: frozenset[str],
    now: datetime,
    request_id: str | None,
) -> None:
    """Set the projects and groups this provider grants the principal to what it says now."""
    source = provider_source("oidc", provider.id)
    common = {"tenant_id": provider.tenant_id, "principal_id": principal_id, "source": source}
    sync_projects(uow, **common, project_ids=project_ids, now=now, request_id=request_id)
    sync_groups(uow, **common, groups=groups, now=now, request_id=request_id)


def _create(
    uow: UnitOfWork,
    provider: IdentityProvider,
    link: LinkedIdentity,
    roles: frozenset[Role],
    request_id: str | None,
) -> Principal:
    if uow.principals.for_login(link.email) is not None:
        raise Unauthenticated("this email already belongs to another qplane account")
    principal = Principal(
        id=ids.new_id(ids.PRINCIPAL),
        kind=PrincipalKind.USER,
        tenant_id=provider.tenant_id,
        email=link.email,
        roles=roles,
    )
    uow.principals.add(principal, None)  # no password: this account logs in only through SSO
    uow.oidc_identities.add(replace(link, principal_id=principal.id))
    audit(
        uow,
        None,
        "user.provision",
        tenant_id=provider.tenant_id,
        target=principal.id,
        detail=f"roles={','.join(sorted(roles))} via {provider.name}",
        request_id=request_id,
    )
    return principal
