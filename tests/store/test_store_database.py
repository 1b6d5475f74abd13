"""The database handle: migrations, engine settings and unit-of-work semantics."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from qplane.domain import ids
from qplane.domain.errors import Conflict, ValidationFailed
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import Tenant
from qplane.store import Database
from qplane.store.engine import normalise_url
from qplane.store.models import Base

T0 = datetime(2025, 1, 1, tzinfo=UTC)

#: These tests run the migrations themselves.
pytestmark = pytest.mark.empty_database


def tenant(name: str, created_at: datetime = T0) -> Tenant:
    return Tenant(ids.new_id(ids.TENANT), name, max_running_jobs=2, created_at=created_at)


def test_upgrade_brings_an_empty_database_to_head(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert db.current_revision() is None
        db.upgrade()
        assert db.current_revision() == db.head_revision()
        assert db.head_revision() is not None
    finally:
        db.dispose()


def test_upgrade_is_idempotent(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant("acme"))
        uow.commit()
    database.upgrade()
    database.upgrade()
    assert database.current_revision() == database.head_revision()
    with database.unit_of_work() as uow:
        assert uow.tenants.by_name("acme") is not None


def test_concurrent_upgrades_both_succeed(database_url: str) -> None:
    """Several servers starting at once against one database: each waits its turn."""
    script = "import sys; from qplane.store import Database; Database(sys.argv[1]).upgrade()"
    servers = [
        subprocess.Popen([sys.executable, "-c", script, database_url], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outcomes = [(server.communicate(timeout=60)[1], server.returncode) for server in servers]
    assert [err for err, code in outcomes if code != 0] == []
    db = Database(database_url)
    assert db.current_revision() == db.head_revision()
    db.dispose()


def test_upgrades_in_threads_of_one_process_take_turns(database_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        db = Database(database_url)
        try:
            db.upgrade()
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_scheduler_row_exists_after_upgrade(database: Database) -> None:
    with database.unit_of_work() as uow:
        assert uow.scheduler.cursor_for_update() is None


def test_sqlite_data_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "qplane.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    assert path.exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_enforces_foreign_keys_and_uses_wal(database: Database) -> None:
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db.example:5432/qplane",
        "postgresql://u:p@db.example:5432/qplane",
        "postgresql+psycopg2://u:p@db.example:5432/qplane",
        "postgresql+psycopg://u:p@db.example:5432/qplane",
    ],
)
def test_postgres_urls_are_driven_by_psycopg3(url: str) -> None:
    parsed = normalise_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.database, parsed.password) == ("db.example", "qplane", "p")


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "oracle://u@h/db"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationFailed, match="database URL"):
        Database(url)


def test_repr_hides_the_password() -> None:
    db = Database("postgresql://qplane:s3cret@db.example/qplane")
    assert "s3cret" not in repr(db)
    db.dispose()


def test_database_is_a_unit_of_work_factory(database: Database) -> None:
    factory: UnitOfWorkFactory = database
    with factory() as uow:
        assert uow.tenants.list_all() == []


def test_committed_work_is_visible_to_the_next_unit_of_work(database: Database) -> None:
    acme = tenant("acme")
    with database.unit_of_work() as uow:
        uow.tenants.add(acme)
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.tenants.get(acme.id) == acme


def test_leaving_without_commit_rolls_back(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant("acme"))
    with database.unit_of_work() as uow:
        assert uow.tenants.by_name("acme") is None


def test_exception_rolls_back(database: Database) -> None:
    def add_then_fail() -> None:
        with database.unit_of_work() as uow:
            uow.tenants.add(tenant("acme"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with database.unit_of_work() as uow:
        assert uow.tenants.list_all() == []


def test_conflict_leaves_the_transaction_usable(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.tenants.add(tenant("acme"))
        with pytest.raises(Conflict):
            uow.tenants.add(tenant("acme"))
        uow.tenants.add(tenant("globex"))
        uow.commit()
    with database.unit_of_work() as uow:
        assert [t.name for t in uow.tenants.list_all()] == ["acme", "globex"]


def test_unit_of_work_is_used_once(database: Database) -> None:
    uow = database.unit_of_work()
    with uow:
        pass
    with pytest.raises(RuntimeError, match="twice"), uow:
        pass


def test_times_come_back_as_aware_utc(database: Database) -> None:
    tokyo = timezone(timedelta(hours=9))
    acme = tenant("acme", created_at=datetime(2025, 6, 1, 9, 30, 0, 123456, tzinfo=tokyo))
    with database.unit_of_work() as uow:
        uow.tenants.add(acme)
        uow.commit()
    with database.unit_of_work() as uow:
        stored = uow.tenants.get(acme.id).created_at
    assert stored.tzinfo == UTC
    assert stored == acme.created_at  # the same instant, microseconds included


def test_concurrent_writers_queue_instead_of_failing(database: Database) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with database.unit_of_work() as uow:
                    uow.tenants.list_all()  # a read first: the lock upgrade that would fail
                    uow.tenants.add(tenant(f"t-{n}-{i}"))
                    uow.commit()
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.unit_of_work() as uow:
        assert len(uow.tenants.list_all()) == 40


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_stores_times_as_timestamptz(database: Database) -> None:
    with database.engine.connect() as connection:
        kind = connection.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'jobs' AND column_name = 'created_at'"
            )
        ).scalar()
    assert kind == "timestamp with time zone"
