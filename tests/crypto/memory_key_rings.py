"""In-memory stores for the crypto tests: dicts holding only what a database would.

`MemoryKeyRings` is a `KeyRingRepository`; `MemorySealedStore` is a
`SealedStore` of sealed values filed by ref with their binding;
`MemoryUnitOfWork` carries just the repositories `KeyHierarchy` uses
(``key_rings`` and the three sealed stores), so the hierarchy's logic is
tested without a database. Updates copy exactly the columns the SQL
repositories update, so a service relying on anything more fails here too.
"""

from __future__ import annotations

from dataclasses import replace
from types import TracebackType

from qplane.crypto.envelope import ArtifactBinding
from qplane.domain.errors import Conflict, NotFound
from qplane.domain.keys import KekState, KekVersion, KeyRing, ShredRequest
from qplane.domain.ports import SealedArtifact, StaleSeal

Binding = tuple[str, str, str, str]


class MemoryKeyRings:
    """A dict-backed `KeyRingRepository`: ring rows, version rows and shred requests."""

    def __init__(self) -> None:
        self.ring_rows: dict[str, KeyRing] = {}
        self.version_rows: dict[tuple[str, int], KekVersion] = {}
        self.shred_requests: dict[str, ShredRequest] = {}

    def ring(self, name: str) -> KeyRing | None:
        return self.ring_rows.get(name)

    def rings(self, tenant_id: str | None) -> list[KeyRing]:
        return [ring for ring in self.all_rings() if ring.tenant_id == tenant_id]

    def all_rings(self) -> list[KeyRing]:
        return [self.ring_rows[name] for name in sorted(self.ring_rows)]

    def rotated(self) -> list[str]:
        return [
            name
            for name in sorted(self.ring_rows)
            if sum(kek.state is KekState.ACTIVE for kek in self.versions(name)) > 1
        ]

    def add_ring(self, ring: KeyRing) -> None:
        if ring.name in self.ring_rows:
            raise Conflict("this key ring already exists")
        self.ring_rows[ring.name] = ring

    def update_ring(self, ring: KeyRing) -> None:
        row = self.ring_rows.get(ring.name)
        if row is None:
            raise LookupError(ring.name)
        self.ring_rows[ring.name] = replace(
            row,
            min_decrypt_version=ring.min_decrypt_version,
            provider=ring.provider,
            state=ring.state,
            provider_config=ring.provider_config,
            shredded_at=ring.shredded_at,
        )

    def latest(self, ring: str) -> KekVersion | None:
        active = [kek for kek in self.versions(ring) if kek.state is KekState.ACTIVE]
        return active[-1] if active else None

    def version(self, ring: str, version: int) -> KekVersion | None:
        return self.version_rows.get((ring, version))

    def versions(self, ring: str) -> list[KekVersion]:
        return sorted(
            (kek for (name, _), kek in self.version_rows.items() if name == ring),
            key=lambda kek: kek.version,
        )

    def add_version(self, ring: KeyRing, kek: KekVersion) -> None:
        if kek.ring not in self.ring_rows:
            raise LookupError(kek.ring)
        if (kek.ring, kek.version) in self.version_rows:
            raise Conflict("this key version already exists")
        self.version_rows[(kek.ring, kek.version)] = kek

    def update_version(self, kek: KekVersion) -> None:
        row = self.version_rows.get((kek.ring, kek.version))
        if row is None:
            raise LookupError(f"{kek.ring} v{kek.version}")
        self.version_rows[(kek.ring, kek.version)] = replace(
            row, state=kek.state, material=kek.material, retired_at=kek.retired_at
        )

    def add_shred_request(self, request: ShredRequest) -> None:
        self.shred_requests[request.id] = request

    def shred_request_for_update(self, request_id: str) -> ShredRequest | None:
        return self.shred_requests.get(request_id)

    def update_shred_request(self, request: ShredRequest) -> None:
        if request.id not in self.shred_requests:
            raise LookupError(request.id)
        self.shred_requests[request.id] = request


class MemorySealedStore:
    """A `SealedStore`: sealed values by ref, each with the binding it was sealed for."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], tuple[Binding, SealedArtifact]] = {}

    def put(self, ref: tuple[str, ...], binding: ArtifactBinding, sealed: SealedArtifact) -> None:
        fields = (binding.tenant_id, binding.project_id, binding.job_id, binding.kind)
        self.rows[ref] = (fields, sealed)

    def get(self, ref: tuple[str, ...]) -> SealedArtifact:
        if ref not in self.rows:
            raise NotFound("sealed value not found")
        return self.rows[ref][1]

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        found = [
            StaleSeal(ref, binding, sealed)
            for ref, (binding, sealed) in self.rows.items()
            if sealed.kek_ring == ring and sealed.kek_version < below_version
        ]
        return found[: max(limit, 0)]

    def count_under(self, ring: str, below_version: int) -> int:
        return sum(
            sealed.kek_ring == ring and sealed.kek_version < below_version
            for _, sealed in self.rows.values()
        )

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        """Compare-and-set, like the SQL stores: False when the row no longer holds *seal*'s key."""
        row = self.rows.get(seal.ref)
        if row is None:
            return False
        binding, current = row
        if (current.kek_ring, current.kek_version, current.wrapped_key) != (
            seal.sealed.kek_ring,
            seal.sealed.kek_version,
            seal.sealed.wrapped_key,
        ):
            return False
        self.rows[seal.ref] = (
            binding,
            replace(current, kek_version=version, wrapped_key=wrapped_key),
        )
        return True


class MemoryUnitOfWork:
    """The part of a `UnitOfWork` that `KeyHierarchy` uses; ``commit`` only counts."""

    def __init__(self) -> None:
        self.key_rings = MemoryKeyRings()
        self.artifacts = MemorySealedStore()
        self.oidc_providers = MemorySealedStore()
        self.mfa = MemorySealedStore()
        self.audit_keys = MemorySealedStore()
        self.commits = 0

    def sealed_stores(self) -> tuple[MemorySealedStore, ...]:
        return (self.artifacts, self.oidc_providers, self.mfa, self.audit_keys)

    def __enter__(self) -> MemoryUnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        self.commits += 1
