"""What every repository shares: its session, fresh reads and guarded writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Select,
    delete,
    inspect,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.orm import Session

from qplane.domain.errors import Conflict, NotFound

R = TypeVar("R")

#: Largest page any listing returns, whatever the caller asks for.
MAX_PAGE: Final = 200

_UNIQUE_SQLSTATE: Final = "23505"
_FOREIGN_KEY_SQLSTATE: Final = "23503"


def clamp_limit(limit: int) -> int:
    """Page sizes are clamped to 1..`MAX_PAGE` rather than refused."""
    return max(1, min(limit, MAX_PAGE))


class Repository:
    """Base of the SQL repositories: one session, shared by the whole unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _first(self, stmt: Select[R]) -> R | None:
        """The first row of *stmt*, re-read from the database.

        ``populate_existing`` refreshes objects already in the session's
        identity map, so a read (above all a FOR UPDATE read) never answers
        with what this transaction saw before another one committed.
        """
        return self._session.scalars(stmt.execution_options(populate_existing=True)).first()

    def _all(self, stmt: Select[R]) -> Sequence[R]:
        return self._session.scalars(stmt.execution_options(populate_existing=True)).all()

    def _rowcount(self, stmt: Executable) -> int:
        """Execute an UPDATE or DELETE and say how many rows it touched."""
        result = cast(CursorResult[Any], self._session.execute(stmt))
        return result.rowcount

    def _delete_where(
        self, model: type[Any], condition: ColumnElement[bool], limit: int | None
    ) -> int:
        """Delete *model* rows matching *condition*: at most *limit* of them, or all when None.

        A bounded delete keeps a housekeeping transaction short, so working
        through a backlog never holds locks long on tables that logins write
        too. Rows another transaction has locked are skipped (PostgreSQL),
        so servers purging at the same time neither wait for nor deadlock
        on each other; the next round takes what was skipped.
        """
        if limit is None:
            return self._rowcount(delete(model).where(condition))
        keys = inspect(model).primary_key
        chosen = select(*keys).where(condition).limit(limit).with_for_update(skip_locked=True)
        target = keys[0] if len(keys) == 1 else tuple_(*keys)
        return self._rowcount(delete(model).where(target.in_(chosen)))

    @contextmanager
    def _guarded(self, *, conflict: str, missing: str | None = None) -> Iterator[None]:
        """Flush the writes made in the block inside a SAVEPOINT, translating constraint errors.

        A unique violation becomes `Conflict(conflict)`; a foreign-key
        violation (a referenced row missing, or owned by another tenant)
        becomes `NotFound(missing)`. Only the savepoint is rolled back, so the
        unit of work's transaction stays usable. The database error is not
        chained: its message carries SQL parameters, which may be secrets.
        """
        try:
            with self._session.begin_nested():
                yield
                self._session.flush()
        except SqlIntegrityError as exc:
            if missing is not None and _is_foreign_key_violation(exc):
                raise NotFound(missing) from None
            raise Conflict(conflict) from None


def _is_foreign_key_violation(exc: SqlIntegrityError) -> bool:
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return bool(sqlstate == _FOREIGN_KEY_SQLSTATE)
    return getattr(original, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_FOREIGNKEY"
