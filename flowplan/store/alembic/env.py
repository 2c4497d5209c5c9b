"""The Alembic environment of the store: runs the revisions under versions/ on the connection
`flowplan.store.migrations` hands over (`config.attributes["connection"]`), inside the
transaction it already opened, so a failed upgrade leaves nothing behind.

There is no offline (SQL script) mode and no engine made here: opening the database, its pragmas
and its URL are `flowplan.store.database`'s.
"""

from __future__ import annotations

from alembic import context

from flowplan.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's revisions run through flowplan.store.migrations, which hands "
                       "them a connection (Store.open upgrades the store it opens)")
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
