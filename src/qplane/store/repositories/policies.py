"""Tenant policy versions and settings.

Versions are written once; the only updates touch status, approval and
activation columns, so no path in this module can change what a version says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from qplane.domain.errors import Conflict, NotFound
from qplane.domain.policies import (
    ActiveVersion,
    PolicySettings,
    PolicyTestSummary,
    PolicyVersion,
    PolicyVersionStatus,
)
from qplane.store.models_policy import PolicySettingsRow, PolicyVersionRow
from qplane.store.repositories._base import Repository, clamp_limit


class SqlPolicyVersionRepository(Repository):
    def add(self, version: PolicyVersion) -> None:
        with self._guarded(
            conflict=f"policy version {version.version} already exists", missing="tenant not found"
        ):
            self._session.add(_row(version))

    def get(self, tenant_id: str, version: int) -> PolicyVersion:
        row = self._first(
            select(PolicyVersionRow).where(
                PolicyVersionRow.tenant_id == tenant_id, PolicyVersionRow.version == version
            )
        )
        if row is None:
            raise NotFound("policy version not found")
        return _version(row)

    def latest_number(self, tenant_id: str) -> int:
        latest = self._session.scalar(
            select(func.max(PolicyVersionRow.version)).where(
                PolicyVersionRow.tenant_id == tenant_id
            )
        )
        return int(latest or 0)

    def for_tenant(self, tenant_id: str, limit: int) -> list[PolicyVersion]:
        rows = self._all(
            select(PolicyVersionRow)
            .where(PolicyVersionRow.tenant_id == tenant_id)
            .order_by(PolicyVersionRow.version.desc())
            .limit(clamp_limit(limit))
        )
        return [_version(row) for row in rows]

    def set_status(
        self,
        tenant_id: str,
        version: int,
        status: PolicyVersionStatus,
        *,
        activated_at: datetime | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status.value}
        if activated_at is not None:
            values["activated_at"] = activated_at
        self._update_one(tenant_id, version, values)

    def record_approval(self, tenant_id: str, version: int, approver_id: str, at: datetime) -> None:
        self._update_one(tenant_id, version, {"approved_by": approver_id, "approved_at": at})

    def settings(self, tenant_id: str) -> PolicySettings:
        row = self._first(select(PolicySettingsRow).where(PolicySettingsRow.tenant_id == tenant_id))
        return PolicySettings(tenant_id) if row is None else _settings(row)

    def settings_for_update(self, tenant_id: str, now: datetime) -> PolicySettings:
        locked = select(PolicySettingsRow).where(PolicySettingsRow.tenant_id == tenant_id)
        row = self._first(locked.with_for_update())
        if row is None:
            try:
                with self._guarded(conflict="settings exist", missing="tenant not found"):
                    self._session.add(
                        PolicySettingsRow(
                            tenant_id=tenant_id, require_approval=False, updated_at=now
                        )
                    )
            except Conflict:
                pass  # another transaction created it first; lock theirs below
            row = self._first(locked.with_for_update())
        if row is None:  # pragma: no cover - the row was just created or seen
            raise NotFound("tenant not found")
        return _settings(row)

    def save_settings(self, settings: PolicySettings) -> None:
        changed = self._rowcount(
            update(PolicySettingsRow)
            .where(PolicySettingsRow.tenant_id == settings.tenant_id)
            .values(
                require_approval=settings.require_approval,
                active_version=settings.active_version,
                active_digest=settings.active_digest,
                updated_at=settings.updated_at,
            )
        )
        if changed != 1:
            raise NotFound("policy settings not found; lock them with settings_for_update")

    def active(self, tenant_id: str) -> ActiveVersion | None:
        found = self._session.execute(
            select(PolicySettingsRow.active_version, PolicySettingsRow.active_digest).where(
                PolicySettingsRow.tenant_id == tenant_id
            )
        ).first()
        if found is None or found[0] is None or found[1] is None:
            return None
        return ActiveVersion(found[0], found[1])

    def _update_one(self, tenant_id: str, version: int, values: dict[str, object]) -> None:
        changed = self._rowcount(
            update(PolicyVersionRow)
            .where(PolicyVersionRow.tenant_id == tenant_id, PolicyVersionRow.version == version)
            .values(**values)
        )
        if changed != 1:
            raise NotFound("policy version not found")


def _row(version: PolicyVersion) -> PolicyVersionRow:
    return PolicyVersionRow(
        tenant_id=version.tenant_id,
        version=version.version,
        policy_text=version.policy_text,
        cases_text=version.cases_text,
        author_id=version.author_id,
        reason=version.reason,
        diff=version.diff,
        digest=version.digest,
        created_at=version.created_at,
        tests_passed=version.tests.passed,
        tests_total=version.tests.total,
        tests_failed=version.tests.failed,
        test_summary=version.tests.text,
        status=version.status.value,
        approved_by=version.approved_by,
        approved_at=version.approved_at,
        activated_at=version.activated_at,
    )


def _version(row: PolicyVersionRow) -> PolicyVersion:
    return PolicyVersion(
        tenant_id=row.tenant_id,
        version=row.version,
        policy_text=row.policy_text,
        cases_text=row.cases_text,
        author_id=row.author_id,
        reason=row.reason,
        diff=row.diff,
        digest=row.digest,
        created_at=row.created_at,
        tests=PolicyTestSummary(
            row.tests_passed, row.tests_total, row.tests_failed, row.test_summary
        ),
        status=PolicyVersionStatus(row.status),
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        activated_at=row.activated_at,
    )


def _settings(row: PolicySettingsRow) -> PolicySettings:
    return PolicySettings(
        tenant_id=row.tenant_id,
        require_approval=row.require_approval,
        active_version=row.active_version,
        active_digest=row.active_digest,
        updated_at=row.updated_at,
    )
