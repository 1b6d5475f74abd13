"""Key management as a use case: who may see and change a tenant's key hierarchy, audited.

`KeyHierarchy` does the cryptography; this service decides and records.
Tenant admins see and manage their own rings (with step-up MFA: every
change is a privileged action); operators see a tenant's hierarchy — names,
versions, states, never material — and crypto-shred it, which takes two of
them: one requests, a different one approves, each with a fresh MFA.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from qplane.broker.auditing import audit
from qplane.crypto.customer_keys import CustomerKeyConfig
from qplane.crypto.hierarchy import KeyHierarchy, ShredEvidence
from qplane.crypto.providers import CUSTOMER_MANAGED
from qplane.domain import ids
from qplane.domain.clock import as_utc, utcnow
from qplane.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from qplane.domain.keys import KekState, KeyRing, RingState, ShredRequest, ShredState, ring_name
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.policy.actions import Action
from qplane.policy.actor import Actor
from qplane.policy.authorizer import Authorizer

#: A shred request not approved within this window must be made again.
SHRED_APPROVAL_WINDOW: Final = timedelta(hours=24)
_MAX_REASON: Final = 500


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    state: KekState
    provider: str
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class RingView:
    """A ring as `qplane keys list` shows it: what protects what, never key material."""

    name: str
    tenant_id: str | None
    project_id: str | None
    environment: str
    provider: str
    state: RingState
    min_decrypt_version: int
    versions: tuple[VersionView, ...]
    #: Sealed values still wrapped under an older version than the newest.
    pending_rewrap: int


class KeyService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, keys: KeyHierarchy, *, authorizer: Authorizer
    ) -> None:
        self._uow = uow_factory
        self._keys = keys
        self._authz = authorizer

    # -- reading --------------------------------------------------------------
    def rings(self, actor: Actor, tenant_id: str) -> list[RingView]:
        with self._uow() as uow:
            self._decide(uow, actor, Action.KEY_READ, tenant_id)
            return [self._view(uow, ring) for ring in uow.key_rings.rings(tenant_id)]

    # -- tenant admins ----------------------------------------------------------
    def create_project_ring(self, actor: Actor, tenant_id: str, project_id: str) -> RingView:
        """Give a project keys of its own: its new data no longer shares the tenant's KEK."""
        with self._uow() as uow:
            self._decide(uow, actor, Action.KEY_MANAGE, tenant_id)
            uow.projects.get(tenant_id, project_id)  # NotFound for another tenant's project
            ring = self._keys.create_ring(uow, tenant_id, project_id)
            audit(
                uow,
                actor,
                "key.create",
                tenant_id=tenant_id,
                target=ring.name,
                detail=f"key ring {ring.name} ({ring.provider}), version 1",
            )
            uow.commit()
            return self._view(uow, ring)

    def rotate(
        self,
        actor: Actor,
        tenant_id: str,
        project_id: str | None = None,
        *,
        customer_key: dict[str, object] | None = None,
    ) -> RingView:
        """A new KEK version (in the tenant's own token with *customer_key*); audited."""
        with self._managing(actor, tenant_id, project_id) as (uow, name):
            config = None if customer_key is None else _customer_key_config(customer_key)
            if config is not None:
                self._keys.providers.check_customer_config(config)
            kek = self._keys.rotate(
                uow,
                name,
                provider=None if config is None else CUSTOMER_MANAGED,
                provider_config=config,
            )
            audit(
                uow,
                actor,
                "key.rotate",
                tenant_id=tenant_id,
                target=name,
                detail=f"new version {kek.version} ({kek.provider})",
            )
            uow.commit()
            return self._view(uow, self._keys.ring(uow, name))

    def rewrap(
        self, actor: Actor, tenant_id: str, project_id: str | None = None, *, limit: int = 500
    ) -> int:
        """Move up to *limit* data keys to the ring's newest version now (the sweeper also does)."""
        with self._managing(actor, tenant_id, project_id) as (uow, name):
            moved = self._keys.rewrap(uow, name, limit)
            audit(
                uow,
                actor,
                "key.rewrap",
                tenant_id=tenant_id,
                target=name,
                detail=f"{moved} data keys rewrapped",
            )
            uow.commit()
            return moved

    def retire(
        self, actor: Actor, tenant_id: str, below_version: int, project_id: str | None = None
    ) -> RingView:
        """Set the minimum decryption version; older versions are erased for good."""
        with self._managing(actor, tenant_id, project_id) as (uow, name):
            retired = self._keys.retire_below(uow, name, below_version)
            audit(
                uow,
                actor,
                "key.retire",
                tenant_id=tenant_id,
                target=name,
                detail=f"minimum decryption version {below_version}; retired {retired}",
            )
            uow.commit()
            return self._view(uow, self._keys.ring(uow, name))

    # -- operators: crypto-shredding, with two people -------------------------
    def request_shred(
        self, actor: Actor, tenant_id: str, project_id: str | None, reason: str
    ) -> ShredRequest:
        reason = reason.strip()
        if not reason:
            raise ValidationFailed("say why the keys are being destroyed", field="reason")
        with self._uow() as uow:
            self._decide(uow, actor, Action.KEY_SHRED, tenant_id)
            name = self._ring_name(uow, tenant_id, project_id)
            self._keys.ring(uow, name)  # refuses a ring already shredded
            request = ShredRequest(
                id=ids.new_id(ids.SHRED_REQUEST),
                tenant_id=tenant_id,
                ring=name,
                requested_by=actor.principal_id,
                requested_at=utcnow(),
                reason=reason[:_MAX_REASON],
            )
            uow.key_rings.add_shred_request(request)
            audit(
                uow,
                actor,
                "key.shred.request",
                tenant_id=tenant_id,
                target=name,
                detail=f"request {request.id}: {request.reason}",
            )
            uow.commit()
        return request

    def approve_shred(self, actor: Actor, request_id: str) -> ShredEvidence:
        """The second operator's approval: destroys every KEK of the ring and records evidence."""
        with self._uow() as uow:
            request = uow.key_rings.shred_request_for_update(request_id)
            if request is None:
                raise NotFound("shred request not found")
            # Another tenant's request must read exactly like a missing one.
            self._decide(
                uow, actor, Action.KEY_SHRED, request.tenant_id, missing="shred request not found"
            )
            if request.state is not ShredState.PENDING:
                raise Conflict("this shred request was already carried out")
            if request.requested_by == actor.principal_id:
                raise Forbidden("a crypto-shred needs a second operator to approve it")
            if utcnow() - as_utc(request.requested_at) > SHRED_APPROVAL_WINDOW:
                raise Conflict("this shred request expired; request it again")
            evidence = self._keys.shred(uow, request.ring)
            uow.key_rings.update_shred_request(
                replace(
                    request,
                    state=ShredState.DONE,
                    approved_by=actor.principal_id,
                    approved_at=evidence.at,
                )
            )
            detail = (
                f"request {request.id} by {request.requested_by}, approved by "
                f"{actor.principal_id}: destroyed versions {list(evidence.versions)} of "
                f"{evidence.ring}; {evidence.sealed_values} sealed values now unrecoverable; "
                f"reason: {request.reason}"
            )
            audit(
                uow,
                actor,
                "key.shred",
                tenant_id=request.tenant_id,
                target=request.ring,
                detail=detail[:1000],
            )
            # The platform's own record survives even if the tenant's log is later purged.
            audit(
                uow, actor, "key.shred", tenant_id=None, target=request.ring, detail=detail[:1000]
            )
            uow.commit()
        return evidence

    # -- helpers ----------------------------------------------------------------
    @contextmanager
    def _managing(
        self, actor: Actor, tenant_id: str, project_id: str | None
    ) -> Iterator[tuple[UnitOfWork, str]]:
        """A unit of work in which *actor* may manage the ring of the tenant (or project)."""
        with self._uow() as uow:
            self._decide(uow, actor, Action.KEY_MANAGE, tenant_id)
            yield uow, self._ring_name(uow, tenant_id, project_id)

    def _decide(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: Action,
        tenant_id: str,
        *,
        missing: str = "tenant not found",
    ) -> None:
        self._authz.authorize_on_tenant(uow, actor, action, tenant_id, missing=missing)

    def _ring_name(self, uow: UnitOfWork, tenant_id: str, project_id: str | None) -> str:
        name = ring_name(tenant_id, project_id, self._keys.environment)
        if uow.key_rings.ring(name) is None:
            raise NotFound("key ring not found" if project_id else "the tenant has no key ring")
        return name

    def _view(self, uow: UnitOfWork, ring: KeyRing) -> RingView:
        versions = tuple(
            VersionView(k.version, k.state, k.provider, k.created_at, k.retired_at)
            for k in uow.key_rings.versions(ring.name)
        )
        pending = (
            0 if ring.state is RingState.SHREDDED else self._keys.pending_rewrap(uow, ring.name)
        )
        return RingView(
            name=ring.name,
            tenant_id=ring.tenant_id,
            project_id=ring.project_id,
            environment=ring.environment,
            provider=ring.provider,
            state=ring.state,
            min_decrypt_version=ring.min_decrypt_version,
            versions=versions,
            pending_rewrap=pending,
        )


def _customer_key_config(config: dict[str, object]) -> str:
    """The non-secret settings of a tenant's own key, stored with the ring.

    The PIN is never accepted: the config only names the PIN file the
    operator installed for the tenant, so no secret reaches the database, a
    log or an audit entry. Whether the module is allowed and the key usable
    is checked when the version is created.
    """
    return CustomerKeyConfig.parse(json.dumps(config)).to_json()
