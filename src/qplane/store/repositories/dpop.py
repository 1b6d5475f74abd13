"""The one-time-use guard for token and proof ids, shared by every server.

It also counts: a namespace's live entries are how abuse limits
(`qplane.identity.failure_limit`) see recent failures on every server.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select

from qplane.domain.clock import as_utc
from qplane.domain.errors import Conflict
from qplane.store.models_workload import SeenTokenIdRow
from qplane.store.repositories._base import Repository


class SqlSeenTokenIdRepository(Repository):
    def first_use(self, namespace: str, token_id: str, expires_at: datetime, now: datetime) -> bool:
        """True the first time *token_id* is presented in *namespace*; False for a replay.

        Only a SHA-256 of the id is stored. Expired entries are purged as
        new ones arrive; an id is remembered at least until *expires_at*,
        after which the token or proof it belongs to is refused anyway. The
        primary key makes the check atomic across API servers.
        """
        key = hashlib.sha256(token_id.encode("utf-8")).hexdigest()
        self._rowcount(delete(SeenTokenIdRow).where(SeenTokenIdRow.expires_at < now))
        try:
            with self._guarded(conflict="token id already used"):
                self._session.add(
                    SeenTokenIdRow(namespace=namespace, key=key, expires_at=expires_at)
                )
        except Conflict:
            return False
        return True

    def count_live(self, namespace: str, now: datetime) -> tuple[int, datetime | None]:
        """Entries of *namespace* not yet expired at *now*, and the soonest expiry among them."""
        row = self._session.execute(
            select(func.count(), func.min(SeenTokenIdRow.expires_at)).where(
                SeenTokenIdRow.namespace == namespace, SeenTokenIdRow.expires_at > now
            )
        ).one()
        count, soonest = row
        return int(count), None if soonest is None else as_utc(soonest)

    def purge_expired(self, now: datetime, limit: int) -> int:
        return self._delete_where(SeenTokenIdRow, SeenTokenIdRow.expires_at < now, limit)
