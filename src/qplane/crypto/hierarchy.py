"""The key hierarchy at work: which ring seals what, rotation, rewrapping, retirement, shredding.

Services hand `KeyHierarchy` their unit of work and get sealing and opening
under the right ring: a project's own ring when it has one, else its
tenant's, always in the platform's environment. Key management (rotate,
rewrap, retire, shred) lives here too, so that every path through which a
KEK changes keeps the same invariants; authorisation and audit are the
calling service's job (`qplane.broker.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from qplane.crypto.envelope import ArtifactBinding, Envelope
from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.providers import KeyProviders
from qplane.domain.clock import utcnow
from qplane.domain.errors import Conflict, IntegrityError, NotFound
from qplane.domain.keys import (
    DEFAULT_ENVIRONMENT,
    KekState,
    KekVersion,
    KeyRing,
    RingState,
    platform_ring,
    ring_name,
)
from qplane.domain.ports import SealedArtifact, SealedStore, UnitOfWork


@dataclass(frozen=True, slots=True)
class ShredEvidence:
    """What a crypto-shred destroyed: recorded in the audit log, never key material."""

    ring: str
    versions: tuple[int, ...]
    sealed_values: int
    at: datetime


class KeyHierarchy:
    def __init__(self, providers: KeyProviders, *, environment: str = DEFAULT_ENVIRONMENT) -> None:
        self.providers = providers
        self.environment = environment

    # -- sealing ------------------------------------------------------------
    def ring_for(self, uow: UnitOfWork, tenant_id: str, project_id: str | None = None) -> str:
        """The ring new data of this tenant (and project) is sealed under."""
        if project_id is not None:
            own = ring_name(tenant_id, project_id, self.environment)
            if uow.key_rings.ring(own) is not None:
                return own
        return ring_name(tenant_id, None, self.environment)

    def seal(
        self,
        uow: UnitOfWork,
        plaintext: bytes,
        binding: ArtifactBinding,
        *,
        ring: str | None = None,
        project_id: str | None = None,
    ) -> SealedArtifact:
        chosen = ring or self.ring_for(uow, binding.tenant_id, project_id)
        return self._envelope(uow).seal(plaintext, binding, chosen)

    def open(self, uow: UnitOfWork, sealed: SealedArtifact, binding: ArtifactBinding) -> bytes:
        try:
            return self._envelope(uow).open(sealed, binding)
        except IntegrityError as exc:
            # The caller's transaction is failing; whoever ends it audits the failure.
            exc.sealed_for = (binding.tenant_id, binding.job_id, binding.kind)
            raise

    def platform_ring(self, uow: UnitOfWork, purpose: str) -> str:
        """The platform's own ring for *purpose* (created on first use)."""
        name = platform_ring(purpose)
        if uow.key_rings.ring(name) is None:
            self.create_ring(uow, None, name=name)
        return name

    # -- management ---------------------------------------------------------
    def create_ring(
        self,
        uow: UnitOfWork,
        tenant_id: str | None,
        project_id: str | None = None,
        *,
        name: str | None = None,
        provider: str | None = None,
        provider_config: str = "",
    ) -> KeyRing:
        """A new ring with its first KEK version."""
        ring = KeyRing(
            name=name or ring_name(tenant_id or "platform", project_id, self.environment),
            tenant_id=tenant_id,
            project_id=project_id,
            environment=self.environment,
            provider=provider or self.providers.default,
            provider_config=provider_config,
            created_at=utcnow(),
        )
        uow.key_rings.add_ring(ring)
        self._new_version(uow, ring, 1)
        return ring

    def rotate(
        self,
        uow: UnitOfWork,
        name: str,
        *,
        provider: str | None = None,
        provider_config: str | None = None,
    ) -> KekVersion:
        """A new KEK version; new data keys use it at once, old ones until rewrapped.

        With *provider* (and its config) the new version, and every later
        one, lives in that provider: this is how a tenant moves its data to
        a key in its own token (``cmk``), then rewraps and retires the rest.
        """
        ring = self.ring(uow, name)
        if provider is not None:
            ring = replace(ring, provider=provider, provider_config=provider_config or "")
            uow.key_rings.update_ring(ring)
        latest = max((k.version for k in uow.key_rings.versions(name)), default=0)
        return self._new_version(uow, ring, latest + 1)

    def rewrap(self, uow: UnitOfWork, name: str, limit: int = 200) -> int:
        """Move up to *limit* data keys of the ring to its newest version; returns how many.

        Payloads are not touched: only each data key is unwrapped under its
        old KEK and wrapped under the new one.
        """
        ring = self.ring(uow, name)
        latest = uow.key_rings.latest(ring.name)
        if latest is None:
            return 0
        envelope = self._envelope(uow)
        moved = 0
        for store in _stores(uow):
            for stale in store.stale(ring.name, latest.version, limit - moved):
                binding = ArtifactBinding(*stale.binding)
                wrapped = envelope.rewrap(stale.sealed, binding, latest)
                moved += store.rewrap(stale, latest.version, wrapped)
            if moved >= limit:
                break
        return moved

    def pending_rewrap(self, uow: UnitOfWork, name: str) -> int:
        """How many sealed values still use an older version than the ring's newest."""
        latest = uow.key_rings.latest(name)
        if latest is None:
            return 0
        return sum(store.count_under(name, latest.version) for store in _stores(uow))

    def retire_below(self, uow: UnitOfWork, name: str, version: int) -> list[int]:
        """Make *version* the ring's minimum decryption version; erase older KEKs.

        Refused while anything is still sealed under an older version (run
        the rewrap first): retiring must never make data unreadable by
        accident. Returns the versions retired.
        """
        ring = self.ring(uow, name)
        if version < ring.min_decrypt_version:
            raise Conflict(
                f"versions below {ring.min_decrypt_version} are already retired; "
                "the minimum decryption version never goes down"
            )
        latest = uow.key_rings.latest(name)
        if latest is None or version > latest.version:
            raise Conflict(f"the ring has no active version {version}")
        still = sum(store.count_under(name, version) for store in _stores(uow))
        if still:
            raise Conflict(
                f"{still} sealed values still use versions below {version}; rewrap them first",
                pending=still,
            )
        now = utcnow()
        retired = []
        for kek in uow.key_rings.versions(name):
            if kek.version < version and kek.state is KekState.ACTIVE:
                self.providers.for_version(ring, kek).destroy(ring, kek)
                uow.key_rings.update_version(
                    replace(kek, state=KekState.RETIRED, material=None, retired_at=now)
                )
                retired.append(kek.version)
        uow.key_rings.update_ring(replace(ring, min_decrypt_version=version))
        return retired

    def shred(self, uow: UnitOfWork, name: str) -> ShredEvidence:
        """Destroy every KEK of the ring: whatever was sealed under it is gone for good."""
        ring = self.ring(uow, name)
        sealed = sum(store.count_under(name, 2**31 - 1) for store in _stores(uow))
        now = utcnow()
        destroyed = []
        for kek in uow.key_rings.versions(name):
            if kek.material is not None:
                self.providers.for_version(ring, kek).destroy(ring, kek)
            uow.key_rings.update_version(
                replace(kek, state=KekState.DESTROYED, material=None, retired_at=now)
            )
            destroyed.append(kek.version)
        uow.key_rings.update_ring(replace(ring, state=RingState.SHREDDED, shredded_at=now))
        return ShredEvidence(name, tuple(destroyed), sealed, now)

    def ring(self, uow: UnitOfWork, name: str) -> KeyRing:
        ring = uow.key_rings.ring(name)
        if ring is None:
            raise NotFound("key ring not found")
        if ring.state is RingState.SHREDDED:
            raise KeyUnavailable("the key ring was crypto-shredded")
        return ring

    def _new_version(self, uow: UnitOfWork, ring: KeyRing, version: int) -> KekVersion:
        material = self.providers.for_ring(ring).create_kek(ring, version)
        kek = KekVersion(
            ring.name,
            version,
            KekState.ACTIVE,
            utcnow(),
            material,
            provider=ring.provider,
            provider_config=ring.provider_config,
        )
        uow.key_rings.add_version(ring, kek)
        return kek

    def _envelope(self, uow: UnitOfWork) -> Envelope:
        return Envelope(self.providers, uow.key_rings)


def _stores(uow: UnitOfWork) -> tuple[SealedStore, ...]:
    """Every table holding sealed values, for rotation and shredding."""
    return (uow.artifacts, uow.oidc_providers, uow.mfa, uow.audit_keys)
