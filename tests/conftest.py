"""Fixtures shared by every test package: real databases, SQLite and PostgreSQL.

``database_url`` is parametrised over both databases, so any test that asks
for it (or for ``database``) runs against each. PostgreSQL tests get a
fresh database of their own, created on the server and dropped afterwards.
Without a reachable server they skip locally, but FAIL when ``CI=true``: a
CI run must never pass by skipping the production database.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psycopg
import pytest
from psycopg import sql

from qplane.store import Database

#: The server's maintenance database, used to create and drop per-test databases.
POSTGRES_ADMIN_URL: Final = os.environ.get(
    "QPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@functools.cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (asked once per test run)."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc}".strip()


def _require_postgres() -> None:
    problem = _postgres_unreachable()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run, not skip)")
    pytest.skip(problem)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    _require_postgres()
    name = f"qplane_t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of its own for one test (in a directory not yet created)."""
    return f"sqlite:///{tmp_path / 'data' / 'qplane.db'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database, once for SQLite and once for PostgreSQL.

    Narrow a test to PostgreSQL with ``@pytest.mark.postgres`` and
    ``@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)``.
    """
    fixture = "postgres_url" if request.param == "postgres" else "sqlite_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An upgraded (fully migrated) database, disposed of after the test."""
    db = Database(database_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()
