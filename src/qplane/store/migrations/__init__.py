"""Alembic migrations of the qplane schema, shipped inside the package.

`qplane.store.database.Database.upgrade` drives them programmatically; no
``alembic.ini`` is needed at run time. Revisions are written by hand to
match `qplane.store.models` (a test checks they agree).
"""
