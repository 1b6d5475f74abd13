"""Engines for the two supported databases, each configured for safe concurrent use.

SQLite (the embedded platform) and PostgreSQL (production) need different
settings to give the same guarantees: foreign keys enforced, writers that
queue rather than fail, and timestamps that round-trip. This module is the
only place that knows those differences.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from qplane.domain.errors import ValidationFailed

#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S: Final = 30.0

_POSTGRES_BACKENDS: Final = frozenset({"postgres", "postgresql"})


def normalise_url(url: str) -> URL:
    """Parse a database URL, mapping every PostgreSQL spelling to the psycopg 3 driver.

    ``postgres://`` and ``postgresql://`` (as hosting providers hand them
    out) would otherwise select psycopg2, which qplane does not ship.

    Only SQLite (``sqlite://``, ``sqlite+pysqlite://``) and PostgreSQL are
    accepted: anything else is refused rather than half-supported.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise ValidationFailed("database URL is not valid", field="database_url") from None
    if parsed.get_backend_name() in _POSTGRES_BACKENDS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in {"sqlite", "sqlite+pysqlite"}:
        return parsed
    raise ValidationFailed("database URL must use sqlite:// or postgresql://", field="database_url")


def build_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for *url* with qplane's per-database settings applied."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    options: dict[str, Any] = {}
    if _is_memory(url):
        # One shared connection, or every checkout would see a new empty database.
        options["poolclass"] = StaticPool
    else:
        Path(str(url.database)).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        **options,
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    writers = _WriterQueue()
    event.listen(engine, "begin", writers.begin)
    event.listen(engine, "commit", writers.end)
    event.listen(engine, "rollback", writers.end)
    return engine


class _WriterQueue:
    """Orders one process's SQLite transactions with a lock, before SQLite's own.

    SQLite's busy handler makes a waiting writer sleep and retry, with
    growing sleeps; a thread that writes in a tight loop (a tenant flooding
    submissions) then takes the lock again and again while a waiting worker
    keeps sleeping, and the device it drives idles for seconds. Waiting on an
    in-process lock instead hands the database over as soon as it is free.
    Other processes (a CLI command beside the server) still meet SQLite's
    busy timeout. A transaction that cannot get the lock within that same
    timeout fails as SQLite's would.
    """

    _HELD: Final = "qplane_writer_lock"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked"))
        connection.info[self._HELD] = True
        try:
            _begin_immediate(connection)
        except BaseException:
            self.end(connection)
            raise

    def end(self, connection: Any) -> None:
        if connection.info.pop(self._HELD, False):
            self._lock.release()


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Per-connection settings; run outside any transaction, as the pragmas require.

    ``isolation_level = None`` stops the sqlite3 module from issuing its own
    (deferred, DML-only) BEGIN, so that SQLAlchemy's `_begin_immediate` owns
    transaction control: this is the documented SQLAlchemy recipe, and it
    also makes SAVEPOINT and DDL properly transactional.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock when the transaction starts.

    A deferred BEGIN upgrades its read lock to a write lock at the first
    write, and that upgrade fails at once with "database is locked" when
    another writer got there first (busy_timeout cannot help a deadlock).
    BEGIN IMMEDIATE waits for the lock up front instead, so concurrent
    writers queue.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")
