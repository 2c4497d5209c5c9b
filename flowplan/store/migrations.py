"""Schema versions of the store and the ordered steps that upgrade one version to the next.

Version 1 is the baseline: `flowplan_meta`, `pipelines`, `schedules`, `deployment_groups`.
Version 2 adds the run history (`flowplan.store.migration_v2`). Version 3 records who did what
(`flowplan.store.migration_v3`): process identities, accounts of approvals, `changes`. Version 4
adds step summaries (`flowplan.store.migration_v4`). Version 5 adds the per-host records of
deploys (`flowplan.store.migration_v5`). Version 6 adds users, API tokens, dashboard sessions
and schedule ticks (`flowplan.store.migration_v6`). Version 7 adds webhook deliveries
(`flowplan.store.migration_v7`). A fresh
database is created straight from the models in `flowplan.store.schema` and stamped with the latest
version; an older one is upgraded by running, in order, every step above the version it records;
a newer one is refused. All of it happens in the one transaction the caller opened, so an upgrade
that fails leaves the database as it was (SQLite and PostgreSQL both have transactional DDL).

To change the schema: change the models in schema.py and append a `Migration(version=N, ...)`
whose `upgrade` spells out its DDL (as migration_v2 does), not taken from the models, which keep
changing after the step is written.

Opening the database and the pragmas are left to `flowplan.store.database`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, inspect, select

from flowplan.store.migration_v2 import upgrade_to_v2
from flowplan.store.migration_v3 import upgrade_to_v3
from flowplan.store.migration_v4 import upgrade_to_v4
from flowplan.store.migration_v5 import upgrade_to_v5
from flowplan.store.migration_v6 import upgrade_to_v6
from flowplan.store.migration_v7 import upgrade_to_v7
from flowplan.store.schema import Base, Meta

BASELINE_VERSION = 1
SCHEMA_VERSION_KEY = "schema_version"


@dataclass(frozen=True)
class Migration:
    """One step: `upgrade` turns a database at `version - 1` into one at `version`."""

    version: int
    description: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "run history: runs, task and step runs, logs, approvals, artifacts, caches, "
                 "secrets, roles", upgrade_to_v2),
    Migration(3, "who did what: process start times and boot ids of runs and steps, the "
                 "account of each approval, changes to roles and secrets", upgrade_to_v3),
    Migration(4, "step summaries: what a step type reports beyond its outputs (test totals, "
                 "scan findings)", upgrade_to_v4),
    Migration(5, "deploys: a row per host of each host_deploy step run (batch, status, exit "
                 "code, times)", upgrade_to_v5),
    Migration(6, "users, API tokens and dashboard sessions (hashes only), schedule ticks",
              upgrade_to_v6),
    Migration(7, "webhook deliveries: what the server received and did, one run per delivery "
                 "id", upgrade_to_v7),
)


class SchemaVersionError(Exception):
    """The database holds a schema this flowplan cannot use (newer, unversioned or unreadable)."""


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The version a database has after every step; checks the steps are consecutive."""
    for expected, migration in enumerate(migrations, start=BASELINE_VERSION + 1):
        if migration.version != expected:
            raise ValueError(f"migration {migration.description!r} upgrades to version "
                             f"{migration.version}, expected {expected}: steps must be consecutive")
    return BASELINE_VERSION + len(migrations)


def read_version(connection: Connection) -> int | None:
    """The recorded schema version, or None when the database has no `flowplan_meta` table."""
    if not inspect(connection).has_table(Meta.__tablename__):
        return None
    value = connection.execute(
        select(Meta.value).where(Meta.key == SCHEMA_VERSION_KEY)).scalar_one_or_none()
    if value is None or not value.isdigit():
        raise SchemaVersionError(f"the store's {Meta.__tablename__} table has no valid "
                                 f"{SCHEMA_VERSION_KEY} (found {value!r})")
    return int(value)


def write_version(connection: Connection, version: int) -> None:
    table = Meta.__table__
    updated = connection.execute(
        table.update().where(table.c.key == SCHEMA_VERSION_KEY).values(value=str(version)))
    if updated.rowcount == 0:
        connection.execute(table.insert().values(key=SCHEMA_VERSION_KEY, value=str(version)))


def prepare_schema(connection: Connection,
                   migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Create or upgrade the schema inside the caller's transaction; return the version reached."""
    latest = latest_version(migrations)
    current = read_version(connection)
    if current is None:
        leftovers = sorted(set(Base.metadata.tables) & set(inspect(connection).get_table_names()))
        if leftovers:
            raise SchemaVersionError(
                f"the database holds flowplan tables ({', '.join(leftovers)}) but no "
                f"{Meta.__tablename__} table: it was not created by flowplan or is damaged")
        Base.metadata.create_all(connection)
        write_version(connection, latest)
        return latest
    if current > latest:
        raise SchemaVersionError(
            f"the store is at schema version {current}, newer than the {latest} this flowplan "
            f"knows: upgrade flowplan, or point it at another store")
    if current < BASELINE_VERSION:
        raise SchemaVersionError(f"the store records schema version {current}, below the "
                                 f"baseline {BASELINE_VERSION}")
    for migration in migrations[current - BASELINE_VERSION:]:
        migration.upgrade(connection)
        write_version(connection, migration.version)
    return latest
