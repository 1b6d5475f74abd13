"""Tenants, projects and users: the administrative use cases."""

from __future__ import annotations

from collections.abc import Iterable

from qplane.broker.auditing import audit
from qplane.crypto.keyring import KeyProvider
from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import (
    Principal,
    PrincipalKind,
    Project,
    Role,
    Tenant,
    validate_email,
    validate_password,
    validate_slug,
)
from qplane.identity.passwords import hash_password
from qplane.policy.actor import Actor
from qplane.policy.decisions import Action, authorize

_TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER})


class TenancyService:
    """Creates and lists tenants, projects and principals, auditing each change."""

    def __init__(self, uow_factory: UnitOfWorkFactory, keys: KeyProvider) -> None:
        self._uow = uow_factory
        self._keys = keys

    def create_tenant(self, actor: Actor, name: str, max_running_jobs: int) -> Tenant:
        """Create a tenant together with its first key-encryption key."""
        authorize(actor, Action.TENANT_CREATE)
        validate_slug(name, "name")
        if not 1 <= max_running_jobs <= 1000:
            raise ValidationFailed(
                "max_running_jobs must be between 1 and 1000", field="max_running_jobs"
            )
        tenant = Tenant(ids.new_id(ids.TENANT), name, max_running_jobs, utcnow())
        with self._uow() as uow:
            if uow.tenants.by_name(name) is not None:
                raise Conflict(f"a tenant named {name!r} already exists")
            uow.tenants.add(tenant)
            version = self._keys.create_tenant_key(tenant.id, uow.tenant_keys)
            audit(uow, actor, "tenant.create", tenant_id=None, target=tenant.id)
            audit(
                uow,
                actor,
                "key.create",
                tenant_id=tenant.id,
                target=tenant.id,
                detail=f"tenant key-encryption key version {version}",
            )
            uow.commit()
        return tenant

    def list_tenants(self, actor: Actor) -> list[Tenant]:
        authorize(actor, Action.TENANT_LIST)
        with self._uow() as uow:
            return uow.tenants.list_all()

    def create_project(self, actor: Actor, tenant_id: str, name: str) -> Project:
        authorize(actor, Action.PROJECT_CREATE, tenant_id)
        validate_slug(name, "name")
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            if uow.projects.by_name(tenant_id, name) is not None:
                raise Conflict(f"a project named {name!r} already exists in this tenant")
            project = Project(ids.new_id(ids.PROJECT), tenant_id, name, utcnow())
            uow.projects.add(project)
            audit(uow, actor, "project.create", tenant_id=tenant_id, target=project.id)
            uow.commit()
        return project

    def list_projects(self, actor: Actor, tenant_id: str) -> list[Project]:
        authorize(actor, Action.PROJECT_LIST, tenant_id)
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            return uow.projects.for_tenant(tenant_id)

    def create_user(
        self,
        actor: Actor,
        tenant_id: str,
        email: str,
        password: str,
        roles: Iterable[str],
    ) -> Principal:
        """Create a local user in *tenant_id*; tenant admins only within their own tenant."""
        authorize(actor, Action.USER_CREATE, tenant_id)
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
            uow.tenants.get(tenant_id)
            if uow.principals.for_login(principal.email) is not None:
                raise Conflict("a user with this email already exists")
            uow.principals.add(principal, password_hash)
            audit(
                uow,
                actor,
                "user.create",
                tenant_id=tenant_id,
                target=principal.id,
                detail="roles=" + ",".join(sorted(granted)),
            )
            uow.commit()
        return principal

    def list_users(self, actor: Actor, tenant_id: str) -> list[Principal]:
        authorize(actor, Action.USER_LIST, tenant_id)
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
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
        if role not in _TENANT_ROLES:
            raise ValidationFailed(f"role {name!r} cannot be granted in a tenant", field="roles")
        granted.add(role)
    if not granted:
        raise ValidationFailed("at least one role is required", field="roles")
    return frozenset(granted)
