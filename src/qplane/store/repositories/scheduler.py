"""The scheduler's fair-share cursor: which tenant was served last."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select, update

from qplane.store.models import SchedulerStateRow
from qplane.store.repositories._base import Repository

_ROW_ID: Final = 1  # the single row, created by the initial migration


class SqlSchedulerStateRepository(Repository):
    def cursor_for_update(self) -> str | None:
        """The tenant served last, locking the row so concurrent schedulers take turns."""
        row = self._first(
            select(SchedulerStateRow).where(SchedulerStateRow.id == _ROW_ID).with_for_update()
        )
        if row is None:
            raise RuntimeError("scheduler_state row is missing: run Database.upgrade()")
        return row.cursor_tenant_id

    def set_cursor(self, tenant_id: str) -> None:
        self._session.execute(
            update(SchedulerStateRow)
            .where(SchedulerStateRow.id == _ROW_ID)
            .values(cursor_tenant_id=tenant_id)
        )
