"""The database handle: one engine, its schema migrations, and units of work over it.

`Database` is what the composition root builds once from the settings and
passes to services; it is itself a `UnitOfWorkFactory`, so a service can
take ``uow: UnitOfWorkFactory`` and be handed the database directly.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from qplane.domain import tenant_scope
from qplane.domain.clock import utcnow
from qplane.domain.ports import UnitOfWork
from qplane.store.blobs import RegionalBlobStores
from qplane.store.engine import build_engine
from qplane.store.repositories.artifacts import SqlArtifactRepository
from qplane.store.unit_of_work import SqlUnitOfWork

_MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
#: Alembic keeps the running migration environment in module globals, so two
#: upgrades in one process must not overlap; across processes the database's
#: own lock (see migrations/env.py) orders them.
_UPGRADE_IN_PROCESS: Final = threading.Lock()
#: How old a blob without a row must be before it is collected: longer than any
#: transaction that writes a payload stays open before it commits.
ORPHAN_GRACE: Final = timedelta(hours=1)


class Database:
    """A SQLite or PostgreSQL database holding qplane's state.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/qplane.db`` (the parent
    directory is created) or ``postgresql://…`` (always driven by psycopg 3).
    """

    def __init__(
        self, url: str, *, echo: bool = False, blobs: RegionalBlobStores | None = None
    ) -> None:
        self._engine = build_engine(url, echo=echo)
        #: Regional payload stores (residency); without them artifacts keep their
        #: ciphertext in the row, as low-level tools and store tests expect.
        self._blobs = blobs
        # expire_on_commit=False: rows are converted to domain objects before
        # they leave a repository, so reloading them after commit is wasted work.
        self._sessions = sessionmaker(bind=self._engine, expire_on_commit=False)
        if self.dialect == "postgresql":
            event.listen(self._sessions, "after_begin", _confine_transaction)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def upgrade(self) -> None:
        """Bring the schema to the newest revision.

        Safe on every start: an up-to-date database is left untouched, and
        concurrent callers wait for each other (the whole upgrade runs in one
        transaction that holds a lock) instead of racing to create tables.
        """
        config = _alembic_config()
        with _UPGRADE_IN_PROCESS, self._engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def current_revision(self) -> str | None:
        """The schema revision the database is at; None before the first upgrade."""
        with self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this version of qplane ships."""
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work; use it as ``with db.unit_of_work() as uow: …; uow.commit()``."""
        return SqlUnitOfWork(self._new_session, self._blobs)

    def __call__(self) -> UnitOfWork:
        return self.unit_of_work()

    @property
    def blobs(self) -> RegionalBlobStores | None:
        """The regional blob stores artifacts' payloads go to; None keeps them in the rows."""
        return self._blobs

    def collect_orphan_blobs(
        self, *, grace: timedelta = ORPHAN_GRACE, now: datetime | None = None
    ) -> int:
        """Delete payload blobs that no artifact row points to any more, once *grace* old.

        Orphans come from retired jobs (their rows are deleted, their blobs
        left for here) and from transactions that rolled back after writing
        a blob. The grace period spares a blob whose put has not committed
        yet. Runs unconfined, whatever the caller's tenant scope: it must see
        every tenant's rows, or it would take their blobs for orphans.
        Returns how many files and empty directories it removed.
        """
        if self._blobs is None:
            return 0
        written_before = (now or utcnow()) - grace
        with self._sessions() as session:  # not _new_session: never confined to one tenant
            return SqlArtifactRepository(session, self._blobs).collect_orphans(written_before)

    def dispose(self) -> None:
        """Close every pooled connection (the object can still be used; it reconnects)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self._engine.url.render_as_string(hide_password=True)!r})"

    def row_security_bypassed(self) -> bool:
        """Whether the connecting role ignores row-level security (superuser or BYPASSRLS).

        Always False on SQLite, which has no roles. A deployment connecting
        as such a role loses the database's tenant fence; start-up warns.
        """
        if self.dialect != "postgresql":
            return False
        with self._engine.connect() as connection:
            bypassed = connection.execute(
                text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
        return bool(bypassed)

    def _new_session(self) -> Session:
        """A session confined to the tenant the caller's work is bound to (see `tenant_scope`)."""
        session = self._sessions()
        tenant_id = tenant_scope.current()
        if tenant_id is not None:
            session.info[TENANT_SETTING] = tenant_id
        return session


#: The per-transaction setting the row-level-security policies of migration 0011 read.
TENANT_SETTING: Final = "qplane.tenant_id"


def _confine_transaction(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    """Tell PostgreSQL which tenant this transaction is confined to, if any.

    Runs at the start of every transaction, not once per session: the setting
    is transaction-local (``set_config(…, true)``), so it can never leak into
    the next user of a pooled connection, and a unit of work that commits and
    carries on is confined again.
    """
    tenant_id = session.info.get(TENANT_SETTING)
    if tenant_id is not None:
        connection.execute(
            text("SELECT set_config(:name, :tenant, true)"),
            {"name": TENANT_SETTING, "tenant": tenant_id},
        )


def _alembic_config() -> Config:
    """An Alembic configuration built in code, so no ``alembic.ini`` is needed on disk."""
    config = Config()
    # Config values go through configparser interpolation: escape '%'.
    config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config
