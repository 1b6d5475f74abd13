"""RFC 8628 device authorizations. Reads for polling and approval lock the row,
so a grant changes state (and is redeemed) exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from qplane.domain.clock import as_utc
from qplane.domain.errors import NotFound
from qplane.domain.mfa import DeviceAuthorization, DeviceStatus
from qplane.store.models_mfa_device import DeviceAuthorizationRow
from qplane.store.repositories._base import Repository


class SqlDeviceAuthorizationRepository(Repository):
    def add(self, grant: DeviceAuthorization) -> None:
        """Raises `Conflict` on a user-code collision (the caller draws another)."""
        with self._guarded(conflict="user code already in use"):
            self._session.add(DeviceAuthorizationRow(**_columns(grant)))

    def by_device_code_for_update(self, device_code_hash: str) -> DeviceAuthorization | None:
        return self._one(DeviceAuthorizationRow.device_code_hash == device_code_hash)

    def by_user_code_for_update(self, user_code: str) -> DeviceAuthorization | None:
        return self._one(DeviceAuthorizationRow.user_code == user_code)

    def save(self, grant: DeviceAuthorization) -> None:
        row = self._session.get(DeviceAuthorizationRow, grant.device_code_hash)
        if row is None:
            raise NotFound("device authorization not found")
        for name, value in _columns(grant).items():
            setattr(row, name, value)
        self._session.flush()

    def purge_expired(self, before: datetime, limit: int | None = None) -> int:
        expired = DeviceAuthorizationRow.expires_at < before
        return self._delete_where(DeviceAuthorizationRow, expired, limit)

    def _one(self, condition: object) -> DeviceAuthorization | None:
        row = self._first(select(DeviceAuthorizationRow).where(condition).with_for_update())  # type: ignore[arg-type]
        return None if row is None else _grant(row)


def _columns(grant: DeviceAuthorization) -> dict[str, object]:
    return {
        "device_code_hash": grant.device_code_hash,
        "user_code": grant.user_code,
        "client_id": grant.client_id,
        "status": grant.status.value,
        "interval_s": grant.interval_s,
        "created_at": grant.created_at,
        "expires_at": grant.expires_at,
        "last_polled_at": grant.last_polled_at,
        "principal_id": grant.principal_id,
        "tenant_id": grant.tenant_id,
        "amr": list(grant.amr) if grant.amr else None,
        "acr": grant.acr,
        "auth_time": grant.auth_time,
    }


def _grant(row: DeviceAuthorizationRow) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code_hash=row.device_code_hash,
        user_code=row.user_code,
        client_id=row.client_id,
        status=DeviceStatus(row.status),
        interval_s=row.interval_s,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        last_polled_at=None if row.last_polled_at is None else as_utc(row.last_polled_at),
        principal_id=row.principal_id,
        tenant_id=row.tenant_id,
        amr=tuple(row.amr or ()),
        acr=row.acr,
        auth_time=row.auth_time,
    )
