"""qplane.store: persistence on SQLite (embedded) and PostgreSQL (production).

The public surface is `Database` (engine, migrations, units of work) and
`SqlUnitOfWork`, which implements `qplane.domain.ports.UnitOfWork`. Models
and repositories are internal: services see only the ports and domain types.
"""

from qplane.store.database import Database
from qplane.store.unit_of_work import SqlUnitOfWork

__all__ = ["Database", "SqlUnitOfWork"]
