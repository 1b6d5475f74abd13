"""The decision path's view of tenant policies: the active set, cheaply.

Each lookup reads only the tenant's active-version pointer (version number
and digest, one primary-key read). The parsed set is cached by (tenant,
version, digest) and built with `PolicyEngine.load_tenant_policies` only
when that triple changes, so no request re-parses policy text. Another
server activating a version is seen on the very next lookup, because the
pointer is read every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from qplane.domain.errors import IntegrityError, QplaneError
from qplane.domain.policies import ActiveVersion
from qplane.domain.ports import UnitOfWork, UnitOfWorkFactory
from qplane.policy.engine import PolicyEngine
from qplane.policy.tenant_policies import TenantPolicySet

DEFAULT_CACHE_SIZE: Final = 1024


class ActivePolicies:
    """Hands out each tenant's active `TenantPolicySet`; safe to share between threads."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        engine: PolicyEngine,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._uow = uow_factory
        self._engine = engine
        self._cache: OrderedDict[str, tuple[ActiveVersion, TenantPolicySet]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: str, uow: UnitOfWork | None = None) -> TenantPolicySet | None:
        """The tenant's active set, or None when it never activated one (baseline only).

        Pass *uow* to read inside a transaction the caller already holds.
        Raises `IntegrityError` when the stored active version no longer
        loads or its digest disagrees with the pointer: the caller must then
        deny, since deciding on the baseline alone would drop the tenant's
        forbids.
        """
        if uow is not None:
            return self._lookup(uow, tenant_id)
        with self._uow() as fresh:
            return self._lookup(fresh, tenant_id)

    def _lookup(self, uow: UnitOfWork, tenant_id: str) -> TenantPolicySet | None:
        active = uow.policy_versions.active(tenant_id)
        if active is None:
            return None
        with self._lock:
            cached = self._cache.get(tenant_id)
            if cached is not None and cached[0] == active:
                self._cache.move_to_end(tenant_id)
                return cached[1]
        policies = self._load(uow, tenant_id, active)
        with self._lock:
            self._cache[tenant_id] = (active, policies)
            self._cache.move_to_end(tenant_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return policies

    def _load(self, uow: UnitOfWork, tenant_id: str, active: ActiveVersion) -> TenantPolicySet:
        version = uow.policy_versions.get(tenant_id, active.version)
        try:
            policies = self._engine.load_tenant_policies(tenant_id, version.policy_text)
        except QplaneError as error:
            raise IntegrityError(
                f"active policy version {active.version} does not load: {error.detail}"
            ) from None
        if policies.digest != active.digest or version.digest != active.digest:
            raise IntegrityError(f"active policy version {active.version} fails its digest")
        return policies
