"""Registered workers of the execution plane (public keys only; they hold no secret of ours)."""

from __future__ import annotations

from sqlalchemy import select, update

from qplane.domain.errors import NotFound
from qplane.domain.workers import WorkerRecord
from qplane.store.models import WorkerRow
from qplane.store.repositories._base import Repository


class SqlWorkerRepository(Repository):
    def add(self, worker: WorkerRecord) -> None:
        """Raises `Conflict` when the name is taken."""
        with self._guarded(conflict="a worker with this name already exists"):
            self._session.add(
                WorkerRow(
                    id=worker.id,
                    name=worker.name,
                    public_jwk=worker.public_jwk,
                    backends=list(worker.backends),
                    created_at=worker.created_at,
                    disabled=worker.disabled,
                    region=worker.region,
                )
            )

    def get(self, worker_id: str) -> WorkerRecord:
        row = self._first(select(WorkerRow).where(WorkerRow.id == worker_id))
        if row is None:
            raise NotFound("worker not found")
        return _worker(row)

    def by_name(self, name: str) -> WorkerRecord | None:
        row = self._first(select(WorkerRow).where(WorkerRow.name == name))
        return None if row is None else _worker(row)

    def list_all(self) -> list[WorkerRecord]:
        return [_worker(row) for row in self._all(select(WorkerRow).order_by(WorkerRow.name))]

    def disable(self, worker_id: str) -> None:
        changed = self._rowcount(
            update(WorkerRow).where(WorkerRow.id == worker_id).values(disabled=True)
        )
        if changed != 1:
            raise NotFound("worker not found")


def _worker(row: WorkerRow) -> WorkerRecord:
    return WorkerRecord(
        id=row.id,
        name=row.name,
        public_jwk=row.public_jwk,
        backends=tuple(row.backends),
        created_at=row.created_at,
        disabled=row.disabled,
        region=row.region,
    )
