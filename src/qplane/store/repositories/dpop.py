"""The one-time-use guard for external token ids and DPoP proof ids, shared by every server."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete

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
