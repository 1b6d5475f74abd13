"""PostgreSQL row-level security: the database's own tenant fence behind the application's.

Each test issues queries that forget their tenant filter on purpose, as a
buggy repository would, inside a transaction confined to one tenant, and
shows that nothing of the other tenant comes back or can be written.

The tests connect as an ordinary role (see tests/conftest.py); a superuser
would bypass row-level security, which `Database.row_security_bypassed` reports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError
from tests.conftest import admin_url
from tests.store.conftest import EPOCH, World

from qplane.bootstrap import build_platform
from qplane.config import Settings
from qplane.domain import ids, tenant_scope
from qplane.domain.errors import NotFound
from qplane.domain.tenancy import Project
from qplane.store import Database
from qplane.store.models import Base
from qplane.store.row_security import TENANT_TABLES
from qplane.store.unit_of_work import SqlUnitOfWork

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


def _sql(uow: Any, statement: str, **params: Any) -> list[Any]:
    return list(cast(SqlUnitOfWork, uow).session.execute(text(statement), params))


def _seed_jobs(world: World) -> None:
    world.add_jobs(world.job(world.a), world.job(world.a), world.job(world.b))


def test_an_unfiltered_query_in_a_confined_transaction_sees_only_its_tenant(
    world: World,
) -> None:
    _seed_jobs(world)

    with tenant_scope.confined_to(world.a.tenant.id), world.db.unit_of_work() as uow:
        tenants = {row[0] for row in _sql(uow, "SELECT tenant_id FROM jobs")}
        names = {row[0] for row in _sql(uow, "SELECT name FROM tenants")}

    assert tenants == {world.a.tenant.id}
    assert names == {"acme"}


def test_without_confinement_the_platform_sees_every_tenant(world: World) -> None:
    _seed_jobs(world)

    with world.db.unit_of_work() as uow:
        tenants = {row[0] for row in _sql(uow, "SELECT tenant_id FROM jobs")}

    assert tenants == {world.a.tenant.id, world.b.tenant.id}


def test_no_tenant_table_shows_a_confined_transaction_another_tenants_rows(world: World) -> None:
    _seed_jobs(world)
    other = world.b.tenant.id

    with tenant_scope.confined_to(world.a.tenant.id), world.db.unit_of_work() as uow:
        leaks = {
            # Names from the migration's own constant, never from input.
            table: _sql(uow, f"SELECT count(*) FROM {table} WHERE {column} = :o", o=other)[0][0]  # noqa: S608
            for table, column in TENANT_TABLES.items()
        }

    assert leaks == dict.fromkeys(TENANT_TABLES, 0)
    with world.db.unit_of_work() as uow:  # the rows are there: confinement hid them
        assert _sql(uow, "SELECT count(*) FROM jobs WHERE tenant_id = :o", o=other)[0][0] == 1


def test_a_repository_lookup_of_another_tenants_job_reads_as_not_found(world: World) -> None:
    theirs = world.job(world.b)
    world.add_jobs(theirs)

    with (
        tenant_scope.confined_to(world.a.tenant.id),
        world.db.unit_of_work() as uow,
        pytest.raises(NotFound),
    ):
        uow.jobs.get(world.b.tenant.id, theirs.id)


def test_a_confined_transaction_cannot_write_into_another_tenant(world: World) -> None:
    intruder = Project(ids.new_id(ids.PROJECT), world.b.tenant.id, "planted", EPOCH)

    with (
        tenant_scope.confined_to(world.a.tenant.id),
        world.db.unit_of_work() as uow,
        pytest.raises(ProgrammingError, match="row-level security"),
    ):
        uow.projects.add(intruder)  # the insert is flushed at once

    with world.db.unit_of_work() as uow:
        assert uow.projects.by_name(world.b.tenant.id, "planted") is None


def test_unfiltered_updates_and_deletes_touch_only_the_confined_tenant(world: World) -> None:
    _seed_jobs(world)

    with tenant_scope.confined_to(world.a.tenant.id), world.db.unit_of_work() as uow:
        updated = cast(SqlUnitOfWork, uow).session.execute(text("UPDATE jobs SET shots = 1"))
        deleted = cast(SqlUnitOfWork, uow).session.execute(text("DELETE FROM job_transitions"))
        uow.commit()

    assert getattr(updated, "rowcount", None) == 2
    assert getattr(deleted, "rowcount", None) >= 2
    with world.db.unit_of_work() as uow:
        theirs = _sql(uow, "SELECT shots FROM jobs WHERE tenant_id = :b", b=world.b.tenant.id)
        history = _sql(
            uow, "SELECT count(*) FROM job_transitions WHERE tenant_id = :b", b=world.b.tenant.id
        )
    assert theirs == [(1024,)]
    assert history[0][0] > 0


def test_confinement_holds_for_every_transaction_of_a_unit_of_work(world: World) -> None:
    _seed_jobs(world)

    with tenant_scope.confined_to(world.a.tenant.id), world.db.unit_of_work() as uow:
        uow.commit()  # ends the first transaction; the setting was transaction-local
        tenants = {row[0] for row in _sql(uow, "SELECT tenant_id FROM jobs")}

    assert tenants == {world.a.tenant.id}


def test_the_setting_never_outlives_its_transaction_on_a_pooled_connection(
    world: World,
) -> None:
    _seed_jobs(world)
    db = Database(world.db.engine.url.render_as_string(hide_password=False))
    try:
        with tenant_scope.confined_to(world.a.tenant.id), db.unit_of_work() as uow:
            _sql(uow, "SELECT 1")
            backend = _sql(uow, "SELECT pg_backend_pid()")[0][0]
        with db.unit_of_work() as uow:
            assert _sql(uow, "SELECT pg_backend_pid()")[0][0] == backend  # the same connection
            tenants = {row[0] for row in _sql(uow, "SELECT tenant_id FROM jobs")}
    finally:
        db.dispose()

    assert tenants == {world.a.tenant.id, world.b.tenant.id}


def test_a_platform_event_can_be_written_from_a_tenant_but_not_read(world: World) -> None:
    with tenant_scope.confined_to(world.a.tenant.id), world.db.unit_of_work() as uow:
        cast(SqlUnitOfWork, uow).session.execute(
            text(
                "INSERT INTO audit_entries (log, idx, at, clock, action, outcome, tenant_id,"
                " policy_ids, correlations) VALUES ('rls-test', 0, now(), 'test', 'probe',"
                " 'denied', NULL, '[]', '{}')"
            ),
        )
        uow.commit()
        seen = _sql(uow, "SELECT count(*) FROM audit_entries WHERE log = 'rls-test'")

    assert seen[0][0] == 0
    with world.db.unit_of_work() as uow:
        assert _sql(uow, "SELECT count(*) FROM audit_entries WHERE log = 'rls-test'")[0][0] == 1


def _protected_tables(connection: Connection) -> dict[str, tuple[bool, bool]]:
    rows = connection.execute(
        text(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        )
    )
    return {name: (enabled, forced) for name, enabled, forced in rows}


def test_every_table_with_a_tenant_column_is_fenced(database: Database) -> None:
    with_tenant = {
        name
        for name, table in Base.metadata.tables.items()
        if "tenant_id" in table.columns or name == "tenants"
    }

    assert with_tenant == set(TENANT_TABLES)
    with database.engine.connect() as connection:
        protected = _protected_tables(connection)
    assert {name: protected[name] for name in TENANT_TABLES} == dict.fromkeys(
        TENANT_TABLES, (True, True)
    )


def test_the_app_role_is_subject_to_row_security_and_a_superuser_is_not(
    database: Database,
) -> None:
    assert database.row_security_bypassed() is False
    superuser = Database(admin_url(database.engine.url.render_as_string(hide_password=False)))
    try:
        assert superuser.row_security_bypassed() is True
    finally:
        superuser.dispose()


def test_start_up_warns_when_the_role_would_bypass_the_fence(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = database.engine.url.render_as_string(hide_password=False)

    for name, database_url in (("app", url), ("superuser", admin_url(url))):
        settings = Settings(data_dir=tmp_path / name, database_url=database_url)
        with caplog.at_level(logging.WARNING, logger="qplane.bootstrap"):
            build_platform(settings, upgrade=False).close()

    warnings = [r.getMessage() for r in caplog.records if "row-level security" in r.getMessage()]
    assert len(warnings) == 1
    assert "bypasses row-level security" in warnings[0]
