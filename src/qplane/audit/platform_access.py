"""Who reads which audit log: operators the platform's, and a tenant's only under break-glass.

A tenant's principals with the right (tenant admins, auditors) read their
own tenant's log. Operators read the platform's log (events of no tenant).
A tenant's log is closed to operators except through a `BreakGlassGrant`:
asked for one tenant, with a reason, after a recent second factor, for a
bounded time. The decision still goes through Cedar — with the
``break_glass`` context set only once the grant was checked here — and
every read under a grant is recorded twice, in the platform's log and in
the tenant's own, naming the elevation and its reason, so the tenant sees
that an operator looked, when, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Final

from qplane.audit.reading import LogAccess, Reader
from qplane.audit.service import AuditService
from qplane.domain import ids, tenant_scope
from qplane.domain.audit import PLATFORM_LOG
from qplane.domain.clock import utcnow
from qplane.domain.elevation import (
    DEFAULT_MAX_TTL,
    ELEVATION,
    BreakGlassGrant,
    check_reason,
    check_ttl,
)
from qplane.domain.errors import Forbidden, NotFound, ValidationFailed
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer

#: Every refusal of a tenant's log reads alike: no elevation, a wrong one, no such tenant.
_MISSING: Final = "tenant not found"


class PlatformAuditAccess:
    """Grants break-glass elevations and hands out the audit log each caller may read."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        audit: AuditService,
        *,
        authorizer: Authorizer,
        max_ttl: timedelta = DEFAULT_MAX_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._authz = authorizer
        self._max_ttl = max_ttl
        self._clock = clock

    def grant(
        self, actor: Actor, tenant_id: str, reason: str, ttl: timedelta | None = None
    ) -> BreakGlassGrant:
        """Elevate *actor* (an operator, after a recent MFA) into *tenant_id*'s audit log.

        Raises `StepUpRequired` without a recent second factor, `Forbidden`
        for anyone but an operator, `NotFound` for no such tenant. The grant
        is recorded in the platform's log and in the tenant's, with its reason.
        """
        stated = check_reason(reason)
        life = check_ttl(ttl, self._max_ttl)
        with self._uow() as uow:
            tenant = self._authz.tenant_named(uow, actor, tenant_id)
            allowed = self._authz.authorize(
                uow, actor, Action.BREAK_GLASS_GRANT, tenant, missing=_MISSING
            )
            now = self._clock()
            grant = BreakGlassGrant(
                id=ids.new_id(ELEVATION),
                operator_id=actor.principal_id,
                tenant_id=tenant_id,
                reason=stated,
                created_at=now,
                expires_at=now + life,
            )
            uow.elevations.add(grant)
            detail = f"audit log readable until {grant.expires_at.isoformat()}"
            reader = Reader(actor, grant, allowed.policy_ids)
            reader.record(uow, "break_glass.granted", tenant_id, detail)
            uow.commit()
        return grant

    def platform_log(self, actor: Actor) -> LogAccess:
        """The platform's own log, for operators (`Forbidden` for anyone else)."""
        allowed = self._authz.on_platform(actor, Action.AUDIT_READ_PLATFORM)
        reader = Reader(actor, None, allowed.policy_ids)
        return LogAccess(self._uow, self._audit, PLATFORM_LOG, reader, self._clock)

    def tenant_log(
        self, actor: Actor, tenant_id: str, elevation_id: str | None = None
    ) -> LogAccess:
        """*tenant_id*'s log: for its admins and auditors, or an operator under *elevation_id*.

        Raises `NotFound` — never `Forbidden` — for another tenant's log,
        and for an operator without a valid elevation of their own for this
        tenant (none, expired, another operator's or another tenant's): the
        answer is the same as for a tenant that does not exist.
        """
        if actor.is_operator:
            return self._elevated(actor, tenant_id, elevation_id)
        allowed = self._authz.on_tenant(actor, Action.AUDIT_READ, tenant_id)  # or NotFound
        if elevation_id is not None:
            raise ValidationFailed(
                "only operators read under a break-glass elevation", field="elevation"
            )
        reader = Reader(actor, None, allowed.policy_ids)
        return LogAccess(self._uow, self._audit, tenant_id, reader, self._clock)

    def _elevated(self, actor: Actor, tenant_id: str, elevation_id: str | None) -> LogAccess:
        """An operator's read of *tenant_id*'s log: decided with break-glass iff the grant holds."""
        with tenant_scope.confined_to(tenant_id), self._uow() as uow:
            grant = self._usable(uow, actor, tenant_id, elevation_id)
            tenant = self._authz.tenant_named(uow, actor, tenant_id)
            with _hiding_refusals():
                allowed = self._authz.authorize(
                    uow,
                    actor,
                    Action.AUDIT_READ_ELEVATED,
                    tenant,
                    missing=_MISSING,
                    break_glass=grant is not None,
                )
        if grant is None:  # unreachable: the baseline allows this read under break-glass only
            raise NotFound(_MISSING)
        reader = Reader(actor, grant, allowed.policy_ids)
        return LogAccess(self._uow, self._audit, tenant_id, reader, self._clock)

    def _usable(
        self, uow: UnitOfWork, actor: Actor, tenant_id: str, elevation_id: str | None
    ) -> BreakGlassGrant | None:
        """The elevation named, if it is this operator's, for this tenant, and unexpired."""
        if elevation_id is None or not ids.is_well_formed(elevation_id, ELEVATION):
            return None
        grant = uow.elevations.get(elevation_id)
        if grant is None or not grant.admits(actor.principal_id, tenant_id, self._clock()):
            return None
        return grant


@contextmanager
def _hiding_refusals() -> Iterator[None]:
    """An operator refused a tenant's log learns nothing more than "not found"."""
    try:
        yield
    except Forbidden:
        raise NotFound(_MISSING) from None
