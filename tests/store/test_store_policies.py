"""The policy version store: tenant-scoped, immutable text, and a schema that backs the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from qplane.domain.errors import Conflict, NotFound
from qplane.domain.policies import (
    ActiveVersion,
    PolicySettings,
    PolicyTestSummary,
    PolicyVersion,
    PolicyVersionStatus,
)

PASSED = PolicyTestSummary(True, 2, 0, "2/2 cases passed")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
FAILED = PolicyTestSummary(False, 2, 1, "1/2 cases passed\nFAIL x: expected deny, got allow")


def _version(side: Any, number: int, **fields: Any) -> PolicyVersion:
    version = PolicyVersion(
        tenant_id=side.tenant.id,
        version=number,
        policy_text=f"// v{number}\n",
        cases_text="cases: []\n",
        author_id=side.owner.id,
        reason="because",
        diff="",
        digest=f"{number:064x}",
        created_at=EPOCH,
        tests=PASSED,
        status=PolicyVersionStatus.PENDING_APPROVAL,
    )
    return replace(version, **fields)


def test_versions_are_confined_to_their_tenant(world: Any) -> None:
    with world.db.unit_of_work() as uow:
        uow.policy_versions.add(_version(world.a, 1))
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.policy_versions.get(world.a.tenant.id, 1).policy_text == "// v1\n"
        with pytest.raises(NotFound):
            uow.policy_versions.get(world.b.tenant.id, 1)
        assert uow.policy_versions.for_tenant(world.b.tenant.id, 10) == []
        assert uow.policy_versions.latest_number(world.b.tenant.id) == 0
        assert uow.policy_versions.latest_number(world.a.tenant.id) == 1


def test_a_version_number_is_taken_once(world: Any) -> None:
    with world.db.unit_of_work() as uow:
        uow.policy_versions.add(_version(world.a, 1))
        with pytest.raises(Conflict):
            uow.policy_versions.add(_version(world.a, 1, policy_text="// other\n"))
        uow.policy_versions.add(_version(world.b, 1))  # another tenant's numbering
        uow.commit()


def test_a_version_whose_tests_failed_cannot_be_stored_as_active(world: Any) -> None:
    with world.db.unit_of_work() as uow, pytest.raises(Conflict):
        uow.policy_versions.add(
            _version(world.a, 1, tests=FAILED, status=PolicyVersionStatus.ACTIVE)
        )
    with world.db.unit_of_work() as uow:
        uow.policy_versions.add(
            _version(world.a, 1, tests=FAILED, status=PolicyVersionStatus.TESTS_FAILED)
        )
        uow.commit()


def test_the_active_pointer_cannot_name_another_tenants_version(world: Any) -> None:
    with world.db.unit_of_work() as uow:
        uow.policy_versions.add(_version(world.b, 7))
        settings = uow.policy_versions.settings_for_update(world.a.tenant.id, EPOCH)
        with pytest.raises(SqlIntegrityError):  # (tenant_id, active_version) must be its own
            uow.policy_versions.save_settings(
                replace(settings, active_version=7, active_digest="0" * 64)
            )


def test_settings_default_until_changed_and_the_pointer_is_read_alone(world: Any) -> None:
    tenant = world.a.tenant.id
    with world.db.unit_of_work() as uow:
        assert uow.policy_versions.settings(tenant) == PolicySettings(tenant)
        assert uow.policy_versions.active(tenant) is None
        uow.policy_versions.add(_version(world.a, 1))
        settings = uow.policy_versions.settings_for_update(tenant, EPOCH)
        uow.policy_versions.save_settings(
            replace(settings, require_approval=True, active_version=1, active_digest=f"{1:064x}")
        )
        uow.policy_versions.set_status(tenant, 1, PolicyVersionStatus.ACTIVE, activated_at=EPOCH)
        uow.policy_versions.record_approval(tenant, 1, world.a.owner.id, EPOCH)
        uow.commit()
    with world.db.unit_of_work() as uow:
        assert uow.policy_versions.active(tenant) == ActiveVersion(1, f"{1:064x}")
        assert uow.policy_versions.active(world.b.tenant.id) is None
        stored = uow.policy_versions.get(tenant, 1)
        assert stored.status is PolicyVersionStatus.ACTIVE
        assert (stored.approved_by, stored.activated_at) == (world.a.owner.id, EPOCH)
        assert stored.policy_text == "// v1\n"  # the status moved; the text did not
        assert uow.policy_versions.settings(tenant).require_approval is True
