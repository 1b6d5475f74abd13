"""TOTP credentials, recovery codes and the platform's own key-encryption keys.

The TOTP secret is stored only as a `SealedArtifact` (see
`qplane.identity.mfa_secrets`); recovery codes only as SHA-256 digests, and
spending one is a conditional UPDATE, so a code is accepted at most once
even when two logins race.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update

from qplane.domain.clock import as_utc
from qplane.domain.mfa import TotpCredential
from qplane.domain.ports import StaleSeal
from qplane.store.models_mfa_device import RecoveryCodeRow, TotpCredentialRow
from qplane.store.repositories import _sealed
from qplane.store.repositories._base import Repository

#: Mirrors `qplane.identity.mfa_secrets`: (owner, "mfa", principal, "totp-secret").
_TOTP = _sealed.SealedColumns(
    model=TotpCredentialRow,
    keys=(TotpCredentialRow.principal_id,),
    ring=TotpCredentialRow.kek_ring,
    version=TotpCredentialRow.kek_version,
    wrapped_key=TotpCredentialRow.wrapped_key,
    nonce=TotpCredentialRow.nonce,
    ciphertext=TotpCredentialRow.ciphertext,
    binding=lambda row: (row.tenant_id or "platform", "mfa", row.principal_id, "totp-secret"),
    extra=(TotpCredentialRow.tenant_id,),
)


class SqlMfaRepository(Repository):
    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        return _sealed.stale(self._session, _TOTP, ring, below_version, limit)

    def count_under(self, ring: str, below_version: int) -> int:
        return _sealed.count_under(self._session, _TOTP, ring, below_version)

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        return _sealed.rewrap(self._session, _TOTP, seal, version, wrapped_key)

    def totp_for_update(self, principal_id: str) -> TotpCredential | None:
        row = self._first(
            select(TotpCredentialRow)
            .where(TotpCredentialRow.principal_id == principal_id)
            .with_for_update()
        )
        return None if row is None else _credential(row)

    def put_totp(self, credential: TotpCredential) -> None:
        """Insert or replace; raises `NotFound` when the principal does not exist."""
        with self._guarded(conflict="authenticator changed concurrently", missing="no such user"):
            self._session.merge(
                TotpCredentialRow(
                    principal_id=credential.principal_id,
                    tenant_id=credential.tenant_id,
                    kek_ring=credential.kek_ring,
                    kek_version=credential.kek_version,
                    wrapped_key=credential.wrapped_key,
                    nonce=credential.nonce,
                    ciphertext=credential.ciphertext,
                    last_counter=credential.last_counter,
                    failures=credential.failures,
                    created_at=credential.created_at,
                    confirmed_at=credential.confirmed_at,
                )
            )

    def delete_totp(self, principal_id: str) -> None:
        self._session.execute(
            delete(TotpCredentialRow).where(TotpCredentialRow.principal_id == principal_id)
        )

    def replace_recovery_codes(
        self, principal_id: str, code_hashes: Sequence[str], at: datetime
    ) -> None:
        """Every earlier code of the principal stops working."""
        self._session.execute(
            delete(RecoveryCodeRow).where(RecoveryCodeRow.principal_id == principal_id)
        )
        with self._guarded(conflict="recovery code collision", missing="no such user"):
            for code_hash in code_hashes:
                self._session.add(
                    RecoveryCodeRow(
                        code_hash=code_hash, principal_id=principal_id, created_at=at, used_at=None
                    )
                )

    def use_recovery_code(self, principal_id: str, code_hash: str, at: datetime) -> bool:
        spent = self._rowcount(
            update(RecoveryCodeRow)
            .where(
                RecoveryCodeRow.code_hash == code_hash,
                RecoveryCodeRow.principal_id == principal_id,
                RecoveryCodeRow.used_at.is_(None),
            )
            .values(used_at=at)
        )
        return spent == 1

    def unused_recovery_codes(self, principal_id: str) -> int:
        count = self._session.scalar(
            select(func.count())
            .select_from(RecoveryCodeRow)
            .where(RecoveryCodeRow.principal_id == principal_id, RecoveryCodeRow.used_at.is_(None))
        )
        return int(count or 0)


def _credential(row: TotpCredentialRow) -> TotpCredential:
    return TotpCredential(
        principal_id=row.principal_id,
        tenant_id=row.tenant_id,
        kek_ring=row.kek_ring,
        kek_version=row.kek_version,
        wrapped_key=row.wrapped_key,
        nonce=row.nonce,
        ciphertext=row.ciphertext,
        last_counter=row.last_counter,
        failures=row.failures,
        created_at=as_utc(row.created_at),
        confirmed_at=None if row.confirmed_at is None else as_utc(row.confirmed_at),
    )
