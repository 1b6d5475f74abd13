"""Tenant policy sets: push, test, approve, activate and roll back versions.

Security properties:

- a pushed version is immutable; it activates only if its cases pass on the
  server against the real baseline, and again at every later activation
  (approval, rollback), so a baseline upgrade cannot carry a version past
  the tests it now fails;
- with ``require_approval`` a version activates only once a tenant admin
  other than its author approves it;
- push, approve, activate and the approval setting are privileged (tenant
  admins with a recent MFA, never operators); another tenant's versions
  answer `NotFound`;
- every change lands in the tenant's audit chain with its version numbers,
  in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from qplane.broker.auditing import audit
from qplane.broker.policy_bundles import (
    PolicyBundle,
    check_bundle,
    retest,
    summary_of,
    version_diff,
)
from qplane.domain.audit import Outcome
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, Forbidden
from qplane.domain.policies import (
    PolicySettings,
    PolicyVersion,
    PolicyVersionStatus,
    validate_reason,
)
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer
from qplane.policy.case_runner import PolicyTestReport
from qplane.policy.engine import PolicyEngine

_Status = PolicyVersionStatus
#: Most versions one listing returns (newest first).
MAX_LISTED = 200


class PolicyService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        engine: PolicyEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._engine = engine
        self._authz = authorizer or Authorizer(engine, uow_factory)
        self._clock = clock

    # -- reading ----------------------------------------------------------
    def versions(
        self, actor: Actor, tenant_id: str, limit: int = MAX_LISTED
    ) -> list[PolicyVersion]:
        """The tenant's versions, newest first."""
        self._authz.on_tenant(actor, Action.POLICY_READ, tenant_id)
        with self._uow() as uow:
            return uow.policy_versions.for_tenant(tenant_id, min(limit, MAX_LISTED))

    def version(self, actor: Actor, tenant_id: str, number: int) -> PolicyVersion:
        self._authz.on_tenant(actor, Action.POLICY_READ, tenant_id)
        with self._uow() as uow:
            return uow.policy_versions.get(tenant_id, number)

    def settings(self, actor: Actor, tenant_id: str) -> PolicySettings:
        self._authz.on_tenant(actor, Action.POLICY_READ, tenant_id)
        with self._uow() as uow:
            return uow.policy_versions.settings(tenant_id)

    def test(self, actor: Actor, tenant_id: str, bundle: PolicyBundle) -> PolicyTestReport:
        """Validate *bundle* and run its cases exactly as a push would, storing nothing."""
        self._authz.on_tenant(actor, Action.POLICY_READ, tenant_id)
        with self._uow() as uow:
            return check_bundle(self._engine, uow, uow.tenants.get(tenant_id), bundle).report

    # -- changing ---------------------------------------------------------
    def push(
        self, actor: Actor, tenant_id: str, bundle: PolicyBundle, reason: str
    ) -> PolicyVersion:
        """Record a new version; it activates at once if its cases pass and no approval is due.

        Invalid policies or cases raise `ValidationFailed` and record nothing;
        a version whose cases fail is kept as ``tests_failed``.
        """
        self._authz.on_tenant(actor, Action.POLICY_PUSH, tenant_id)
        reason = validate_reason(reason)
        # Checked in a read-only transaction first: running the cases may take
        # a while, and no write lock should be held meanwhile.
        with self._uow() as uow:
            checked = check_bundle(self._engine, uow, uow.tenants.get(tenant_id), bundle)
        with self._uow() as uow:
            now = self._clock()
            settings = uow.policy_versions.settings_for_update(tenant_id, now)
            number = uow.policy_versions.latest_number(tenant_id) + 1
            base = _active_version(uow, settings)
            status = _status_after_push(checked.report.passed, settings.require_approval)
            version = PolicyVersion(
                tenant_id=tenant_id,
                version=number,
                policy_text=bundle.policies,
                cases_text=bundle.cases,
                author_id=actor.principal_id,
                reason=reason,
                diff=version_diff(base, number, bundle),
                digest=checked.policy_set.digest,
                created_at=now,
                tests=summary_of(checked.report),
                status=status,
                activated_at=now if status is _Status.ACTIVE else None,
            )
            uow.policy_versions.add(version)
            detail = (
                f"version {number} pushed: {status.value}; "
                f"{version.tests.total - version.tests.failed}/{version.tests.total} cases "
                f"passed; digest {version.digest[:16]}; reason: {reason}"
            )
            self._audit(uow, actor, "policy.push", number, detail)
            if status is _Status.ACTIVE:
                self._switch(uow, actor, settings, version, now)
            uow.commit()
        return version

    def approve(self, actor: Actor, tenant_id: str, number: int) -> PolicyVersion:
        """A second tenant admin approves a pending version, which activates it.

        Raises `Forbidden` for the version's own author, `Conflict` for a
        version not waiting for approval or whose cases fail now.
        """
        self._authz.on_tenant(actor, Action.POLICY_APPROVE, tenant_id)
        self._passing(actor, tenant_id, number, _check_approvable)
        with self._uow() as uow:
            now = self._clock()
            settings = uow.policy_versions.settings_for_update(tenant_id, now)
            version = uow.policy_versions.get(tenant_id, number)
            _check_approvable(actor, version, settings)
            uow.policy_versions.record_approval(tenant_id, number, actor.principal_id, now)
            detail = f"version {number} approved (author {version.author_id})"
            self._audit(uow, actor, "policy.approve", number, detail)
            version = self._switch(uow, actor, settings, version, now)
            uow.commit()
        return version

    def activate(self, actor: Actor, tenant_id: str, number: int) -> PolicyVersion:
        """Make version *number* the active one; to an earlier version this is a rollback.

        Its cases run again first. A version that never passed, or that still
        waits for a required approval, raises `Conflict`.
        """
        self._authz.on_tenant(actor, Action.POLICY_ACTIVATE, tenant_id)
        self._passing(actor, tenant_id, number, _check_activatable)
        with self._uow() as uow:
            now = self._clock()
            settings = uow.policy_versions.settings_for_update(tenant_id, now)
            version = uow.policy_versions.get(tenant_id, number)
            _check_activatable(actor, version, settings)
            version = self._switch(uow, actor, settings, version, now)
            uow.commit()
        return version

    def set_require_approval(self, actor: Actor, tenant_id: str, required: bool) -> PolicySettings:
        """Turn the two-admin rule on or off; audited with the old and new value."""
        self._authz.on_tenant(actor, Action.POLICY_ACTIVATE, tenant_id)
        with self._uow() as uow:
            now = self._clock()
            settings = uow.policy_versions.settings_for_update(tenant_id, now)
            changed = PolicySettings(
                tenant_id,
                require_approval=required,
                active_version=settings.active_version,
                active_digest=settings.active_digest,
                updated_at=now,
            )
            uow.policy_versions.save_settings(changed)
            audit(
                uow,
                actor,
                "policy.settings.update",
                tenant_id=tenant_id,
                target="policy-settings",
                detail=f"require_approval: {_on(settings.require_approval)} -> {_on(required)}",
            )
            uow.commit()
        return changed

    # -- internals --------------------------------------------------------
    def _passing(
        self,
        actor: Actor,
        tenant_id: str,
        number: int,
        check: Callable[[Actor, PolicyVersion, PolicySettings], None],
    ) -> PolicyVersion:
        """The version, if it may change state and its cases pass against today's baseline.

        A failing re-run is audited (a refused activation is worth knowing
        about) and raises `Conflict` with the report's summary.
        """
        with self._uow() as uow:
            version = uow.policy_versions.get(tenant_id, number)
            check(actor, version, uow.policy_versions.settings(tenant_id))
        report = retest(self._engine, version)
        if report.passed:
            return version
        with self._uow() as uow:
            detail = f"version {number} not activated, its cases fail now: {report.summary()}"
            self._audit(uow, actor, "policy.activate", number, detail, Outcome.FAILURE)
            uow.commit()
        raise Conflict(
            f"policy version {number} fails its cases against the current baseline",
            report=report.summary(),
        )

    def _switch(
        self,
        uow: UnitOfWork,
        actor: Actor,
        settings: PolicySettings,
        version: PolicyVersion,
        now: datetime,
    ) -> PolicyVersion:
        """Point the tenant at *version*; the one active before becomes superseded."""
        previous = settings.active_version
        tenant_id = version.tenant_id
        if previous is not None and previous != version.version:
            uow.policy_versions.set_status(tenant_id, previous, _Status.SUPERSEDED)
        uow.policy_versions.set_status(tenant_id, version.version, _Status.ACTIVE, activated_at=now)
        uow.policy_versions.save_settings(settings.activating(version, now))
        rollback = previous is not None and version.version < previous
        replaced = "no version" if previous is None else f"version {previous}"
        detail = (
            f"version {version.version} activated (rollback from {replaced})"
            if rollback
            else f"version {version.version} activated, replacing {replaced}"
        )
        action = "policy.rollback" if rollback else "policy.activate"
        self._audit(uow, actor, action, version.version, detail)
        return uow.policy_versions.get(tenant_id, version.version)

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        number: int,
        detail: str,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> None:
        assert actor.tenant_id is not None  # authorize admitted a tenant admin only
        audit(
            uow,
            actor,
            action,
            tenant_id=actor.tenant_id,
            target=f"policy-version:{number}",
            outcome=outcome,
            detail=detail,
        )


def _status_after_push(passed: bool, require_approval: bool) -> PolicyVersionStatus:
    if not passed:
        return _Status.TESTS_FAILED
    return _Status.PENDING_APPROVAL if require_approval else _Status.ACTIVE


def _active_version(uow: UnitOfWork, settings: PolicySettings) -> PolicyVersion | None:
    if settings.active_version is None:
        return None
    return uow.policy_versions.get(settings.tenant_id, settings.active_version)


def _check_approvable(actor: Actor, version: PolicyVersion, settings: PolicySettings) -> None:
    if version.status is not _Status.PENDING_APPROVAL:
        raise Conflict(
            f"policy version {version.version} is {version.status.value}, not waiting for approval"
        )
    if version.author_id == actor.principal_id:
        raise Forbidden("a version's author cannot approve it: another tenant admin must")


def _check_activatable(actor: Actor, version: PolicyVersion, settings: PolicySettings) -> None:
    """Which versions may be (re)activated; rolling back to a once-active version needs no
    fresh approval, since it was activated under the tenant's rules of its time."""
    number = version.version
    if version.status is _Status.ACTIVE:
        raise Conflict(f"policy version {number} is already active")
    if version.status is _Status.TESTS_FAILED:
        raise Conflict(f"policy version {number} failed its cases and can never be activated")
    if version.status is _Status.PENDING_APPROVAL and settings.require_approval:
        raise Conflict(
            f"policy version {number} waits for another tenant admin's approval "
            f"(approve it instead)"
        )


def _on(flag: bool) -> str:
    return "on" if flag else "off"
