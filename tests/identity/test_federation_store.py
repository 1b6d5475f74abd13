"""The federation ports on SQLite and PostgreSQL: trust policies and the one-time-use guard."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from qplane.domain import ids
from qplane.domain.clock import utcnow
from qplane.domain.errors import NotFound
from qplane.domain.federation import ClaimCondition, ConditionOp, TrustPolicy
from qplane.domain.tenancy import Principal, PrincipalKind, Project, Role, Tenant
from qplane.store import Database


def _tenant_with_project(database: Database, name: str) -> tuple[Tenant, Project]:
    tenant = Tenant(ids.new_id(ids.TENANT), name, 4, utcnow())
    project = Project(ids.new_id(ids.PROJECT), tenant.id, "main", utcnow())
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant)
        uow.projects.add(project)
        uow.commit()
    return tenant, project


def _policy(database: Database, tenant: Tenant, project: Project) -> TrustPolicy:
    principal = Principal(
        ids.new_id(ids.PRINCIPAL),
        PrincipalKind.SERVICE,
        tenant.id,
        f"svc-{ids.new_id('tp')}@workload.qplane.invalid",
        frozenset({Role.MEMBER}),
    )
    policy = TrustPolicy(
        id=ids.new_id("tp"),
        tenant_id=tenant.id,
        project_id=project.id,
        principal_id=principal.id,
        name="ci",
        issuer="https://issuer.test",
        audience="qplane",
        conditions=(ClaimCondition("sub", ConditionOp.GLOB, "repo:acme/*"),),
        roles=principal.roles,
        max_ttl_s=300,
        require_dpop=True,
        created_at=utcnow(),
    )
    with database.unit_of_work() as uow:
        uow.principals.add(principal, None)
        uow.trust_policies.add(policy)
        uow.commit()
    return policy


def test_a_policy_round_trips_and_is_found_for_the_exchange(database: Database) -> None:
    tenant, project = _tenant_with_project(database, "acme")
    policy = _policy(database, tenant, project)
    with database.unit_of_work() as uow:
        assert uow.trust_policies.get(tenant.id, policy.id) == policy
        assert uow.trust_policies.for_project(tenant.id, project.id) == [policy]
        assert uow.trust_policies.for_exchange(project.id, "https://issuer.test") == [policy]
        assert uow.trust_policies.for_exchange(project.id, "https://other.test") == []
        assert uow.trust_policies.for_principal(tenant.id, policy.principal_id) == policy


def test_another_tenants_policy_answers_like_a_missing_one(database: Database) -> None:
    acme, project = _tenant_with_project(database, "acme")
    globex, _ = _tenant_with_project(database, "globex")
    policy = _policy(database, acme, project)
    with database.unit_of_work() as uow:
        with pytest.raises(NotFound):
            uow.trust_policies.get(globex.id, policy.id)
        with pytest.raises(NotFound):
            uow.trust_policies.delete(globex.id, policy.id)
        assert uow.trust_policies.for_project(globex.id, project.id) == []
        assert uow.trust_policies.for_principal(globex.id, policy.principal_id) is None


def test_a_policy_cannot_point_into_another_tenants_project(database: Database) -> None:
    acme, _ = _tenant_with_project(database, "acme")
    _, foreign = _tenant_with_project(database, "globex")
    with pytest.raises(NotFound):
        _policy(database, acme, replace(foreign, tenant_id=acme.id))


def test_deleting_a_policy_disables_its_principal(database: Database) -> None:
    tenant, project = _tenant_with_project(database, "acme")
    policy = _policy(database, tenant, project)
    with database.unit_of_work() as uow:
        uow.trust_policies.delete(tenant.id, policy.id)
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.trust_policies.for_project(tenant.id, project.id) == []
        assert uow.principals.get(tenant.id, policy.principal_id).disabled


def test_token_ids_are_used_once_per_namespace_until_they_expire(database: Database) -> None:
    now = utcnow()
    later = now + timedelta(minutes=5)
    with database.unit_of_work() as uow:
        assert uow.seen_token_ids.first_use("fed", "jti-1", later, now)
        assert not uow.seen_token_ids.first_use("fed", "jti-1", later, now)
        assert uow.seen_token_ids.first_use("dpop", "jti-1", later, now)
        uow.commit()
    with database.unit_of_work() as uow:  # another server, another transaction
        assert not uow.seen_token_ids.first_use("fed", "jti-1", later, now)
        # Once expired, the entry is purged (the token it guarded is refused anyway).
        after = later + timedelta(seconds=1)
        assert uow.seen_token_ids.first_use("fed", "jti-1", after + timedelta(minutes=5), after)
