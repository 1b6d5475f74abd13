"""Fixtures shared by every test package: real databases, SQLite and PostgreSQL.

``database_url`` is parametrised over both databases, so any test that asks
for it (or for ``database``) runs against each. PostgreSQL tests get a
fresh database of their own, created on the server and dropped afterwards.
Without a reachable server they skip locally, but FAIL when ``CI=true``: a
CI run must never pass by skipping the production database.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql
from sqlalchemy import make_url

from qplane.identity import passwords
from qplane.store import Database
from tests.requirements import unavailable

#: The server's maintenance database, used to create and drop per-test databases.
POSTGRES_ADMIN_URL: Final = os.environ.get(
    "QPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


#: argon2id with qplane's parameters (RFC 9106 low-memory: 64 MiB, t=3, p=4) costs
#: about 0.3 s of two cores per hash; the suite creates and logs in thousands of
#: accounts. Tests run with a cheap hasher instead; the real parameters are pinned
#: by tests/identity/test_passwords.py, which uses `real_password_hashing`.
CHEAP_HASHER: Final = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "real_password_hashing" not in request.fixturenames:
        monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def real_password_hashing() -> None:
    """Hash with qplane's production parameters in this test."""


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
    if problem is not None:
        unavailable(problem, "PostgreSQL tests")


#: qplane connects as an ordinary role in tests, as a deployment should: a
#: superuser would bypass the row-level security that keeps tenants apart.
APP_ROLE: Final = "qplane_app"
_APP_PASSWORD: Final = "qplane-app-test"


def _admin_execute(statement: sql.Composable) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(statement)


@functools.cache
def _ensure_app_role() -> None:
    """Create the unprivileged login role the tests connect as (once; races are harmless)."""
    # Another test process may create it first.
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        _admin_execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(_APP_PASSWORD)
            )
        )


def _create_database(name: str, template: str | None = None) -> None:
    """A database owned by the app role, so its migrations create tables it owns."""
    _ensure_app_role()
    statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(name), sql.Identifier(APP_ROLE)
    )
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    _admin_execute(statement)


def _engine_url(name: str) -> str:
    """The URL qplane uses for database *name*: the app role, never the admin."""
    admin = make_url(POSTGRES_ADMIN_URL)
    url = admin.set(
        drivername="postgresql+psycopg", username=APP_ROLE, password=_APP_PASSWORD, database=name
    )
    return url.render_as_string(hide_password=False)


def admin_url(engine_url: str) -> str:
    """The same database reached as the superuser (tests that tamper behind qplane's back)."""
    admin = make_url(POSTGRES_ADMIN_URL)
    return admin.set(database=make_url(engine_url).database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    """A database migrated to head once per test process: tests start from copies of it.

    Copying a template (``CREATE DATABASE … TEMPLATE``) is several times
    cheaper than running every migration for every test.
    """
    _require_postgres()
    name = f"qplane_tpl_{secrets.token_hex(6)}"
    _create_database(name)
    template = Database(_engine_url(name))
    template.upgrade()
    template.dispose()
    try:
        yield name
    finally:
        _admin_execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database for one test, dropped afterwards.

    Already at the head revision, unless the test is marked ``empty_database``.
    """
    _require_postgres()
    name = f"qplane_t_{secrets.token_hex(6)}"
    if request.node.get_closest_marker("empty_database") is not None:
        _create_database(name)
    else:
        _create_database(name, template=request.getfixturevalue("_postgres_template"))
    try:
        yield _engine_url(name)
    finally:
        _admin_execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per test process, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "qplane.db"
    template = Database(f"sqlite:///{path}")
    template.upgrade()
    template.dispose()  # checkpoints the write-ahead log into the file
    return path


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite database file of its own for one test.

    Already at the head revision, unless the test is marked ``empty_database``
    (then the file and its directory do not exist yet).
    """
    path = tmp_path / "data" / "qplane.db"
    if request.node.get_closest_marker("empty_database") is None:
        template: Path = request.getfixturevalue("_sqlite_template")
        path.parent.mkdir(parents=True)
        shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a database at the head revision, once for SQLite and once for PostgreSQL.

    Mark a test ``empty_database`` for a database with no schema at all.

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
