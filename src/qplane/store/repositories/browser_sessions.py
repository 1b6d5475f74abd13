"""The device verification page's browser sessions, by the digest of their cookie.

Reads lock the row (``FOR UPDATE``), so a CSRF token is rotated, and a
session is used for a decision, by exactly one of several concurrent
requests; `delete` reports whether this caller was the one that removed it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from qplane.domain.browser import BrowserSession, BrowserSignIn
from qplane.domain.clock import as_utc
from qplane.store.models_browser import BrowserSessionRow
from qplane.store.repositories._base import Repository


class SqlBrowserSessionRepository(Repository):
    def add(self, session: BrowserSession) -> None:
        with self._guarded(conflict="browser session already exists"):
            self._session.add(
                BrowserSessionRow(
                    id_hash=session.id_hash,
                    csrf_hash=session.csrf_hash,
                    user_code=session.user_code,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )

    def for_update(self, id_hash: str, now: datetime) -> BrowserSession | None:
        row = self._first(
            select(BrowserSessionRow)
            .where(BrowserSessionRow.id_hash == id_hash, BrowserSessionRow.expires_at > now)
            .with_for_update()
        )
        return None if row is None else _session(row)

    def set_csrf(self, id_hash: str, csrf_hash: str) -> None:
        self._rowcount(
            update(BrowserSessionRow)
            .where(BrowserSessionRow.id_hash == id_hash)
            .values(csrf_hash=csrf_hash)
        )

    def sign_in(self, id_hash: str, user_code: str, sign_in: BrowserSignIn) -> bool:
        changed = self._rowcount(
            update(BrowserSessionRow)
            .where(BrowserSessionRow.id_hash == id_hash)
            .values(
                user_code=user_code,
                principal_id=sign_in.principal_id,
                tenant_id=sign_in.tenant_id,
                amr=list(sign_in.amr),
                acr=sign_in.acr,
                auth_time=sign_in.auth_time,
                signed_in_at=sign_in.signed_in_at,
            )
        )
        return changed == 1

    def delete(self, id_hash: str) -> bool:
        return (
            self._rowcount(delete(BrowserSessionRow).where(BrowserSessionRow.id_hash == id_hash))
            == 1
        )

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        return self._delete_where(BrowserSessionRow, BrowserSessionRow.expires_at <= now, limit)


def _session(row: BrowserSessionRow) -> BrowserSession:
    signed_in = None
    if row.principal_id is not None and row.signed_in_at is not None and row.acr is not None:
        signed_in = BrowserSignIn(
            principal_id=row.principal_id,
            tenant_id=row.tenant_id,
            amr=tuple(row.amr or ()),
            acr=row.acr,
            auth_time=row.auth_time,
            signed_in_at=as_utc(row.signed_in_at),
        )
    return BrowserSession(
        id_hash=row.id_hash,
        csrf_hash=row.csrf_hash,
        user_code=row.user_code,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        sign_in=signed_in,
    )
