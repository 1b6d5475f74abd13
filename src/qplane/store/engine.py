"""Engines for the two supported databases, each configured for safe concurrent use.

SQLite (the embedded platform) and PostgreSQL (production) need different
settings to give the same guarantees: foreign keys enforced, writers that
queue rather than fail, and timestamps that round-trip. This module is the
only place that knows those differences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
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
    event.listen(engine, "begin", _begin_immediate)
    return engine


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
