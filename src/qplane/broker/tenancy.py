"""Tenants, projects and users: the administrative use cases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from qplane.broker import authz_facts as facts
from qplane.broker.auditing import audit
from qplane.crypto.hierarchy import KeyHierarchy
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, NotFound, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.domain.tenancy import (
    MANUAL_MEMBERSHIP,
    TENANT_ROLES,
    GroupMember,
    Principal,
    PrincipalKind,
    Project,
    ProjectMember,
    Role,
    Tenant,
    validate_email,
    validate_group,
    validate_password,
    validate_region,
    validate_slug,
    validate_timezone,
)
from qplane.identity.passwords import hash_password
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer, tenant_facts
from qplane.policy.engine import PolicyEngine
from qplane.policy.facts import PLATFORM, ProjectFacts, TenantFacts


class TenancyService:
    """Creates and lists tenants, projects and principals, auditing each change."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        keys: KeyHierarchy,
        *,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._keys = keys
        self._authz = authorizer or Authorizer(PolicyEngine(), uow_factory)

    def _on_tenant(
        self, uow: UnitOfWork, actor: Actor, action: Action, tenant_id: str
    ) -> TenantFacts:
        """Authorise *action* on the tenant; another tenant reads as "tenant not found"."""
        return self._authz.authorize_on_tenant(uow, actor, action, tenant_id)

    def _on_project(
        self, uow: UnitOfWork, actor: Actor, action: Action, tenant_id: str, project_id: str
    ) -> ProjectFacts:
        project = facts.project(uow, tenant_id, project_id)
        self._authz.authorize(uow, actor, action, project, missing="project not found")
        return project

    def create_tenant(
        self,
        actor: Actor,
        name: str,
        max_running_jobs: int,
        *,
        timezone: str = "UTC",
        region: str = "",
    ) -> Tenant:
        """Create a tenant together with its first key-encryption key."""
        validate_slug(name, "name")
        if not 1 <= max_running_jobs <= 1000:
            raise ValidationFailed(
                "max_running_jobs must be between 1 and 1000", field="max_running_jobs"
            )
        tenant = Tenant(
            ids.new_id(ids.TENANT),
            name,
            max_running_jobs,
            utcnow(),
            timezone=validate_timezone(timezone),
            region=validate_region(region),
        )
        with self._uow() as uow:
            self._authz.authorize(
                uow, actor, Action.TENANT_CREATE, tenant_facts(tenant), missing=None
            )
            if uow.tenants.by_name(name) is not None:
                raise Conflict(f"a tenant named {name!r} already exists")
            uow.tenants.add(tenant)
            ring = self._keys.create_ring(uow, tenant.id)
            audit(uow, actor, "tenant.create", tenant_id=None, target=tenant.id)
            audit(
                uow,
                actor,
                "key.create",
                tenant_id=tenant.id,
                target=ring.name,
                detail=f"key ring {ring.name} ({ring.provider}), version 1",
            )
            uow.commit()
        return tenant

    def update_tenant_settings(
        self,
        actor: Actor,
        tenant_id: str,
        *,
        timezone: str | None = None,
        region: str | None = None,
    ) -> Tenant:
        """Change the attributes tenant policies decide on (time zone, data region).

        An operator action: the region states where a tenant's data lives, so
        a tenant cannot move itself to satisfy a residency rule.
        """
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.TENANT_UPDATE, tenant_id)
            current = uow.tenants.get(tenant_id)
            updated = replace(
                current,
                timezone=current.timezone if timezone is None else validate_timezone(timezone),
                region=current.region if region is None else validate_region(region),
            )
            uow.tenants.update_settings(tenant_id, timezone=updated.timezone, region=updated.region)
            audit(
                uow,
                actor,
                "tenant.update",
                tenant_id=tenant_id,
                target=tenant_id,
                detail=f"timezone={updated.timezone} region={updated.region or '-'}",
            )
            uow.commit()
        return updated

    def list_tenants(self, actor: Actor) -> list[Tenant]:
        with self._uow() as uow:
            self._authz.authorize(uow, actor, Action.TENANT_LIST, PLATFORM, missing=None)
            return uow.tenants.list_all()

    def create_project(self, actor: Actor, tenant_id: str, name: str) -> Project:
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.PROJECT_CREATE, tenant_id)
            validate_slug(name, "name")
            if uow.projects.by_name(tenant_id, name) is not None:
                raise Conflict(f"a project named {name!r} already exists in this tenant")
            project = Project(ids.new_id(ids.PROJECT), tenant_id, name, utcnow())
            uow.projects.add(project)
            audit(uow, actor, "project.create", tenant_id=tenant_id, target=project.id)
            uow.commit()
        return project

    def list_projects(self, actor: Actor, tenant_id: str) -> list[Project]:
        """The tenant's projects the caller may reach: each one decided on its own."""
        with self._uow() as uow:
            tenant = self._on_tenant(uow, actor, Action.PROJECT_LIST, tenant_id)
            return [
                p
                for p in uow.projects.for_tenant(tenant_id)
                if self._authz.allows(
                    uow, actor, Action.PROJECT_LIST, ProjectFacts(p.id, tenant, p.name)
                )
            ]

    def add_member(
        self, actor: Actor, tenant_id: str, project_id: str, principal_id: str
    ) -> ProjectMember:
        """Grant *principal_id* (a user or service principal of the tenant) the project."""
        member = ProjectMember(tenant_id, project_id, principal_id, MANUAL_MEMBERSHIP, utcnow())
        with self._uow() as uow:
            self._on_project(uow, actor, Action.PROJECT_MEMBERS_MANAGE, tenant_id, project_id)
            uow.principals.get(tenant_id, principal_id)  # NotFound for another tenant's
            if uow.project_members.add(member):
                audit(
                    uow,
                    actor,
                    "project.member.add",
                    tenant_id=tenant_id,
                    target=principal_id,
                    detail=f"project={project_id}",
                )
            uow.commit()
        return member

    def remove_member(
        self, actor: Actor, tenant_id: str, project_id: str, principal_id: str
    ) -> None:
        """Take the project away, whatever granted it.

        An IdP-granted membership comes back at the user's next SSO login
        while the IdP still maps them; the fix for that is in the IdP.
        """
        with self._uow() as uow:
            self._on_project(uow, actor, Action.PROJECT_MEMBERS_MANAGE, tenant_id, project_id)
            if uow.project_members.remove_all(tenant_id, project_id, principal_id) == 0:
                raise NotFound("membership not found")
            audit(
                uow,
                actor,
                "project.member.remove",
                tenant_id=tenant_id,
                target=principal_id,
                detail=f"project={project_id}",
            )
            uow.commit()

    def add_group_member(
        self, actor: Actor, tenant_id: str, group: str, principal_id: str
    ) -> GroupMember:
        """Put a principal of the tenant in a named group (privileged: policies rely on groups)."""
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.GROUP_MANAGE, tenant_id)
            member = GroupMember(
                tenant_id, validate_group(group), principal_id, MANUAL_MEMBERSHIP, utcnow()
            )
            uow.principals.get(tenant_id, principal_id)  # NotFound for another tenant's
            if uow.groups.add(member):
                audit(
                    uow,
                    actor,
                    "group.member.add",
                    tenant_id=tenant_id,
                    target=principal_id,
                    detail=f"group={member.group}",
                )
            uow.commit()
        return member

    def remove_group_member(
        self, actor: Actor, tenant_id: str, group: str, principal_id: str
    ) -> None:
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.GROUP_MANAGE, tenant_id)
            if uow.groups.remove_all(tenant_id, validate_group(group), principal_id) == 0:
                raise NotFound("group membership not found")
            audit(
                uow,
                actor,
                "group.member.remove",
                tenant_id=tenant_id,
                target=principal_id,
                detail=f"group={group}",
            )
            uow.commit()

    def list_groups(self, actor: Actor, tenant_id: str) -> dict[str, list[GroupMember]]:
        """Every group of the tenant with its members and what put them there."""
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.GROUP_READ, tenant_id)
            return {
                name: uow.groups.members_of(tenant_id, name) for name in uow.groups.names(tenant_id)
            }

    def list_members(self, actor: Actor, tenant_id: str, project_id: str) -> list[ProjectMember]:
        with self._uow() as uow:
            self._on_project(uow, actor, Action.PROJECT_MEMBERS_READ, tenant_id, project_id)
            return uow.project_members.of_project(tenant_id, project_id)

    def create_user(
        self,
        actor: Actor,
        tenant_id: str,
        email: str,
        password: str,
        roles: Iterable[str],
        projects: Iterable[str] = (),
    ) -> Principal:
        """Create a local user in *tenant_id*, member of *projects*.

        Tenant admins act only within their own tenant; granting projects at
        creation also needs the right to manage members.
        """
        project_ids = sorted(set(projects))
        with self._uow() as uow:  # decide first: the password hash is deliberately slow
            self._on_tenant(uow, actor, Action.USER_CREATE, tenant_id)
            for project_id in project_ids:
                self._on_project(uow, actor, Action.PROJECT_MEMBERS_MANAGE, tenant_id, project_id)
        granted = _tenant_roles(roles)
        principal = Principal(
            id=ids.new_id(ids.PRINCIPAL),
            kind=PrincipalKind.USER,
            tenant_id=tenant_id,
            email=validate_email(email),
            roles=granted,
        )
        password_hash = hash_password(validate_password(password))
        with self._uow() as uow:
            if uow.principals.for_login(principal.email) is not None:
                raise Conflict("a user with this email already exists")
            uow.principals.add(principal, password_hash)
            for project_id in project_ids:
                uow.projects.get(tenant_id, project_id)
                uow.project_members.add(
                    ProjectMember(tenant_id, project_id, principal.id, MANUAL_MEMBERSHIP, utcnow())
                )
            audit(
                uow,
                actor,
                "user.create",
                tenant_id=tenant_id,
                target=principal.id,
                detail="roles="
                + ",".join(sorted(granted))
                + (" projects=" + ",".join(project_ids) if project_ids else ""),
            )
            uow.commit()
        return principal

    def list_users(self, actor: Actor, tenant_id: str) -> list[Principal]:
        with self._uow() as uow:
            self._on_tenant(uow, actor, Action.USER_LIST, tenant_id)
            return uow.principals.for_tenant(tenant_id)

    def ensure_operator(self, email: str, password: str) -> Principal | None:
        """Create the bootstrap operator unless one with this email exists.

        Returns the new principal, or None when it already existed (the
        password is then left untouched: bootstrap never resets credentials).
        """
        email = validate_email(email)
        with self._uow() as uow:
            if uow.principals.for_login(email) is not None:
                return None
            operator = Principal(
                id=ids.new_id(ids.PRINCIPAL),
                kind=PrincipalKind.OPERATOR,
                tenant_id=None,
                email=email,
                roles=frozenset({Role.OPERATOR}),
            )
            uow.principals.add(operator, hash_password(validate_password(password)))
            audit(uow, None, "operator.bootstrap", tenant_id=None, target=operator.id)
            uow.commit()
        return operator


def _tenant_roles(roles: Iterable[str]) -> frozenset[Role]:
    granted: set[Role] = set()
    for name in roles:
        try:
            role = Role(name)
        except ValueError:
            raise ValidationFailed(f"unknown role {name!r}", field="roles") from None
        if role not in TENANT_ROLES:
            raise ValidationFailed(f"role {name!r} cannot be granted in a tenant", field="roles")
        granted.add(role)
    if not granted:
        raise ValidationFailed("at least one role is required", field="roles")
    return frozenset(granted)
