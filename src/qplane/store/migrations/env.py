"""Alembic environment for qplane.

Run through `Database.upgrade`, which hands over an open connection (in
``config.attributes["connection"]``) already inside a transaction, so the
whole upgrade is one transaction. On PostgreSQL a transaction-scoped
advisory lock makes concurrent upgrades (several API servers starting at
once) wait for each other; on SQLite, the BEGIN IMMEDIATE of the engine
does the same.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from qplane.store.models import Base

#: Arbitrary, fixed key of the advisory lock that serialises schema upgrades.
_UPGRADE_LOCK_KEY = 0x71706C616E65  # "qplane"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY}
            )
        context.run_migrations()


def _run_offline() -> None:
    """Render the SQL without a database (``alembic upgrade --sql``), for reviewers and DBAs."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        _run_offline()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Developer path (the alembic CLI with a URL): build the same engine the platform uses.
    from qplane.store.engine import build_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = build_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
