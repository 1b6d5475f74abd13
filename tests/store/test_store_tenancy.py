"""Tenants, projects and principals: uniqueness, and tenant scope on every read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qplane.domain import ids
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.tenancy import Principal, PrincipalKind, Project, Role, Tenant
from qplane.store import Database

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def new_tenant(name: str) -> Tenant:
    return Tenant(ids.new_id(ids.TENANT), name, max_running_jobs=3, created_at=EPOCH)


def test_tenant_round_trips(database: Database) -> None:
    acme = new_tenant("acme")
    with database.unit_of_work() as uow:
        uow.tenants.add(acme)
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.tenants.get(acme.id) == acme
        assert uow.tenants.by_name("acme") == acme
        assert uow.tenants.by_name("nobody") is None


def test_missing_tenant_is_not_found(database: Database) -> None:
    with database.unit_of_work() as uow, pytest.raises(NotFound, match="tenant not found"):
        uow.tenants.get(ids.new_id(ids.TENANT))


def test_duplicate_tenant_name_is_a_conflict(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.tenants.add(new_tenant("acme"))
        with pytest.raises(Conflict, match="name already exists"):
            uow.tenants.add(new_tenant("acme"))


def test_operator_lists_all_tenants_by_name(database: Database) -> None:
    with database.unit_of_work() as uow:
        for name in ("zeta", "acme", "mid"):
            uow.tenants.add(new_tenant(name))
        assert [t.name for t in uow.tenants.list_all()] == ["acme", "mid", "zeta"]


def test_project_names_are_unique_within_a_tenant_only(world) -> None:
    twin = Project(ids.new_id(ids.PROJECT), world.b.tenant.id, "research", EPOCH)
    with world.db.unit_of_work() as uow:
        uow.projects.add(Project(ids.new_id(ids.PROJECT), world.a.tenant.id, "research", EPOCH))
        uow.projects.add(twin)  # same name, other tenant: fine
        with pytest.raises(Conflict, match="project with this name already exists"):
            uow.projects.add(Project(ids.new_id(ids.PROJECT), world.a.tenant.id, "research", EPOCH))
        assert uow.projects.by_name(world.b.tenant.id, "research") == twin


def test_project_of_unknown_tenant_is_refused(database: Database) -> None:
    orphan = Project(ids.new_id(ids.PROJECT), ids.new_id(ids.TENANT), "x", EPOCH)
    with database.unit_of_work() as uow, pytest.raises(NotFound, match="tenant not found"):
        uow.projects.add(orphan)


def test_other_tenant_project_is_not_found(world) -> None:
    with world.db.unit_of_work() as uow:
        assert uow.projects.get(world.a.tenant.id, world.a.project.id) == world.a.project
        with pytest.raises(NotFound, match=r"^project not found$"):
            uow.projects.get(world.b.tenant.id, world.a.project.id)
        assert uow.projects.by_name(world.b.tenant.id, "missing") is None


def test_projects_for_tenant_lists_only_its_own(world) -> None:
    with world.db.unit_of_work() as uow:
        assert uow.projects.for_tenant(world.a.tenant.id) == [world.a.project]


def test_principal_round_trips_with_roles_and_password_hash(world) -> None:
    admin = Principal(
        id=ids.new_id(ids.PRINCIPAL),
        kind=PrincipalKind.USER,
        tenant_id=world.a.tenant.id,
        email="admin@acme.example",
        roles=frozenset({Role.TENANT_ADMIN, Role.MEMBER}),
        disabled=True,
    )
    with world.db.unit_of_work() as uow:
        uow.principals.add(admin, password_hash="$argon2id$v=19$abc")
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.principals.get(world.a.tenant.id, admin.id) == admin
        assert uow.principals.for_login("admin@acme.example") == (admin, "$argon2id$v=19$abc")
        assert uow.principals.for_login("nobody@acme.example") is None


def test_duplicate_email_is_a_conflict_across_tenants(world) -> None:
    clash = Principal(
        ids.new_id(ids.PRINCIPAL), PrincipalKind.USER, world.b.tenant.id, world.a.owner.email
    )
    with world.db.unit_of_work() as uow, pytest.raises(Conflict, match="email already exists"):
        uow.principals.add(clash, password_hash=None)


def test_other_tenant_principal_is_not_found(world) -> None:
    with world.db.unit_of_work() as uow:
        with pytest.raises(NotFound, match=r"^principal not found$"):
            uow.principals.get(world.b.tenant.id, world.a.owner.id)
        with pytest.raises(NotFound):
            uow.principals.get(None, world.a.owner.id)  # a tenant member is no operator


def test_operator_is_found_without_a_tenant(database: Database) -> None:
    operator = Principal(
        ids.new_id(ids.PRINCIPAL),
        PrincipalKind.OPERATOR,
        None,
        "ops@platform.example",
        frozenset({Role.OPERATOR}),
    )
    with database.unit_of_work() as uow:
        uow.principals.add(operator, password_hash=None)
        found = uow.principals.get(None, operator.id)
    assert found == operator
    assert found.is_operator


def test_password_hash_can_be_replaced(world) -> None:
    with world.db.unit_of_work() as uow:
        uow.principals.set_password_hash(world.a.owner.id, "new-hash")
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.principals.for_login(world.a.owner.email) == (world.a.owner, "new-hash")
        with pytest.raises(NotFound):
            uow.principals.set_password_hash(ids.new_id(ids.PRINCIPAL), "x")


def test_principals_for_tenant_lists_only_its_own(world) -> None:
    with world.db.unit_of_work() as uow:
        assert uow.principals.for_tenant(world.b.tenant.id) == [world.b.owner]
