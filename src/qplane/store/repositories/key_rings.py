"""Key rings and their KEK versions (see `qplane.domain.keys`)."""

from __future__ import annotations

from sqlalchemy import func, select

from qplane.domain.clock import as_utc
from qplane.domain.keys import KekState, KekVersion, KeyRing, RingState, ShredRequest, ShredState
from qplane.store.models_keys import KeyRingRow, KeyVersionRow, ShredRequestRow
from qplane.store.repositories._base import Repository


class SqlKeyRingRepository(Repository):
    def ring(self, name: str) -> KeyRing | None:
        row = self._first(select(KeyRingRow).where(KeyRingRow.name == name))
        return None if row is None else _ring(row)

    def rings(self, tenant_id: str | None) -> list[KeyRing]:
        owner = (
            KeyRingRow.tenant_id.is_(None)
            if tenant_id is None
            else KeyRingRow.tenant_id == tenant_id
        )
        return [
            _ring(row)
            for row in self._all(select(KeyRingRow).where(owner).order_by(KeyRingRow.name))
        ]

    def all_rings(self) -> list[KeyRing]:
        return [_ring(row) for row in self._all(select(KeyRingRow).order_by(KeyRingRow.name))]

    def rotated(self) -> list[str]:
        stmt = (
            select(KeyVersionRow.ring)
            .where(KeyVersionRow.state == KekState.ACTIVE.value)
            .group_by(KeyVersionRow.ring)
            .having(func.count() > 1)
            .order_by(KeyVersionRow.ring)
        )
        return list(self._session.scalars(stmt))

    def add_ring(self, ring: KeyRing) -> None:
        """Raises `Conflict` when the ring exists."""
        with self._guarded(conflict="this key ring already exists"):
            self._session.add(
                KeyRingRow(
                    name=ring.name,
                    tenant_id=ring.tenant_id,
                    project_id=ring.project_id,
                    environment=ring.environment,
                    provider=ring.provider,
                    provider_config=ring.provider_config,
                    min_decrypt_version=ring.min_decrypt_version,
                    state=ring.state.value,
                    created_at=ring.created_at,
                    shredded_at=ring.shredded_at,
                )
            )
            self._session.flush()

    def update_ring(self, ring: KeyRing) -> None:
        row = self._session.get(KeyRingRow, ring.name)
        if row is None:
            raise LookupError(ring.name)
        row.min_decrypt_version = ring.min_decrypt_version
        row.provider = ring.provider
        row.state = ring.state.value
        row.provider_config = ring.provider_config
        row.shredded_at = ring.shredded_at
        self._session.flush()

    def latest(self, ring: str) -> KekVersion | None:
        row = self._first(
            select(KeyVersionRow)
            .where(KeyVersionRow.ring == ring, KeyVersionRow.state == KekState.ACTIVE.value)
            .order_by(KeyVersionRow.version.desc())
            .limit(1)
        )
        return None if row is None else _version(row)

    def version(self, ring: str, version: int) -> KekVersion | None:
        row = self._first(
            select(KeyVersionRow).where(
                KeyVersionRow.ring == ring, KeyVersionRow.version == version
            )
        )
        return None if row is None else _version(row)

    def versions(self, ring: str) -> list[KekVersion]:
        rows = self._all(
            select(KeyVersionRow).where(KeyVersionRow.ring == ring).order_by(KeyVersionRow.version)
        )
        return [_version(row) for row in rows]

    def add_version(self, ring: KeyRing, kek: KekVersion) -> None:
        with self._guarded(conflict="this key version already exists"):
            self._session.add(
                KeyVersionRow(
                    ring=kek.ring,
                    version=kek.version,
                    tenant_id=ring.tenant_id,
                    state=kek.state.value,
                    material=kek.material,
                    aad_format=kek.aad_format,
                    provider=kek.provider,
                    provider_config=kek.provider_config,
                    created_at=kek.created_at,
                    retired_at=kek.retired_at,
                )
            )
            self._session.flush()

    def update_version(self, kek: KekVersion) -> None:
        row = self._session.get(KeyVersionRow, (kek.ring, kek.version))
        if row is None:
            raise LookupError(f"{kek.ring} v{kek.version}")
        row.state = kek.state.value
        row.material = kek.material
        row.retired_at = kek.retired_at
        self._session.flush()

    def add_shred_request(self, request: ShredRequest) -> None:
        self._session.add(
            ShredRequestRow(
                id=request.id,
                tenant_id=request.tenant_id,
                ring=request.ring,
                requested_by=request.requested_by,
                requested_at=request.requested_at,
                reason=request.reason,
                state=request.state.value,
            )
        )
        self._session.flush()

    def shred_request_for_update(self, request_id: str) -> ShredRequest | None:
        row = self._first(
            select(ShredRequestRow).where(ShredRequestRow.id == request_id).with_for_update()
        )
        if row is None:
            return None
        return ShredRequest(
            id=row.id,
            tenant_id=row.tenant_id,
            ring=row.ring,
            requested_by=row.requested_by,
            requested_at=as_utc(row.requested_at),
            reason=row.reason,
            state=ShredState(row.state),
            approved_by=row.approved_by,
            approved_at=None if row.approved_at is None else as_utc(row.approved_at),
        )

    def update_shred_request(self, request: ShredRequest) -> None:
        row = self._session.get(ShredRequestRow, request.id)
        if row is None:
            raise LookupError(request.id)
        row.state = request.state.value
        row.approved_by = request.approved_by
        row.approved_at = request.approved_at
        self._session.flush()


def _ring(row: KeyRingRow) -> KeyRing:
    return KeyRing(
        name=row.name,
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        environment=row.environment,
        provider=row.provider,
        created_at=as_utc(row.created_at),
        min_decrypt_version=row.min_decrypt_version,
        state=RingState(row.state),
        provider_config=row.provider_config,
        shredded_at=None if row.shredded_at is None else as_utc(row.shredded_at),
    )


def _version(row: KeyVersionRow) -> KekVersion:
    return KekVersion(
        ring=row.ring,
        version=row.version,
        state=KekState(row.state),
        created_at=as_utc(row.created_at),
        material=None if row.material is None else bytes(row.material),
        aad_format=row.aad_format,
        retired_at=None if row.retired_at is None else as_utc(row.retired_at),
        provider=row.provider,
        provider_config=row.provider_config,
    )
