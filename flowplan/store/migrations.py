"""Schema versions of the store, upgraded by Alembic on SQLite and PostgreSQL alike.

The revisions are under `alembic/versions/` in this package, found through the package (no
alembic.ini): revision "0001" is the baseline (`flowplan_meta`, `pipelines`, `schedules`,
`deployment_groups`), "0002" the run history, "0003" who did what, "0004" step summaries, "0005"
per-host deploys, "0006" users, API tokens, sessions and schedule ticks, "0007" webhook
deliveries, "0008" worker tokens, worker task claims and run secrets, "0009" teams, "0010"
secrets and roles per team. Revision "00NN" brings a store to schema version NN.

A fresh database is created straight from the models in `flowplan.store.schema` and stamped with
the head revision. A store that Alembic has not seen yet (made by the runner this replaced) has
no `alembic_version` table: it is stamped with the revision of the version `flowplan_meta`
records, then upgraded. `flowplan_meta.schema_version` keeps being written after every upgrade,
so that an older flowplan still refuses a store newer than it knows. A store newer than the
revisions here is refused. All of it happens in the one transaction the caller opened, so an
upgrade that fails leaves the database as it was (SQLite and PostgreSQL both have transactional
DDL); on PostgreSQL a transaction-scoped advisory lock makes concurrent opens upgrade one at a
time.

To change the schema: change the models in schema.py and add a revision whose `upgrade` spells
out its DDL (as 0002 does), not taken from the models, which keep changing after it is written.

Opening the database and the pragmas are left to `flowplan.store.database`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text

from flowplan.store.schema import Base, Meta

BASELINE_VERSION = 1
SCHEMA_VERSION_KEY = "schema_version"
SCRIPTS = Path(__file__).with_name("alembic")
VERSIONS = SCRIPTS / "versions"
ALEMBIC_TABLE = "alembic_version"
UPGRADE_LOCK_KEY = 0x666C6F77   # pg_advisory_xact_lock key of schema upgrades ("flow")


class SchemaVersionError(Exception):
    """The database holds a schema this flowplan cannot use (newer, unversioned or unreadable)."""


@dataclass(frozen=True)
class Revisions:
    """Which revisions a store is upgraded with: the directories holding them and the schema
    version to stop at (None: the head)."""

    locations: tuple[Path, ...] = (VERSIONS,)
    target: int | None = None

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_path_separator", "os")
        config.set_main_option("version_locations",
                               os.pathsep.join(str(path) for path in self.locations))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def latest(self) -> int:
        """The schema version these revisions bring a store to."""
        head = _head(self.locations)
        if self.target is None:
            return head
        if not BASELINE_VERSION <= self.target <= head:
            raise ValueError(f"schema version {self.target} is not between "
                             f"{BASELINE_VERSION} and {head}")
        return self.target


REVISIONS = Revisions()


def revision_of(version: int) -> str:
    return f"{version:04d}"


@lru_cache(maxsize=8)
def _head(locations: tuple[Path, ...]) -> int:
    script = ScriptDirectory.from_config(Revisions(locations).config())
    heads = script.get_heads()
    if len(heads) != 1:
        raise ValueError(f"the store's revisions must form one line, found heads {heads}")
    expected = BASELINE_VERSION
    for revision in reversed(list(script.walk_revisions())):
        if revision.revision != revision_of(expected):
            raise ValueError(f"revision {revision.revision} ({revision.path}) should be "
                             f"{revision_of(expected)}: revisions are numbered consecutively")
        expected += 1
    return expected - 1


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


def _alembic_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(ALEMBIC_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {ALEMBIC_TABLE}")).scalar()


def prepare_schema(connection: Connection, revisions: Revisions = REVISIONS) -> int:
    """Create or upgrade the schema inside the caller's transaction; return the version reached."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
    latest = revisions.latest()
    config = revisions.config(connection)
    current = read_version(connection)
    if current is None:
        leftovers = sorted(set(Base.metadata.tables) & set(inspect(connection).get_table_names()))
        if leftovers:
            raise SchemaVersionError(
                f"the database holds flowplan tables ({', '.join(leftovers)}) but no "
                f"{Meta.__tablename__} table: it was not created by flowplan or is damaged")
        if latest == _head(revisions.locations):
            Base.metadata.create_all(connection)
            command.stamp(config, revision_of(latest))
        else:                       # an older version on purpose: built revision by revision
            command.upgrade(config, revision_of(latest))
        write_version(connection, latest)
        return latest
    if current > latest:
        raise SchemaVersionError(
            f"the store is at schema version {current}, newer than the {latest} this flowplan "
            f"knows: upgrade flowplan, or point it at another store")
    if current < BASELINE_VERSION:
        raise SchemaVersionError(f"the store records schema version {current}, below the "
                                 f"baseline {BASELINE_VERSION}")
    stamped = _alembic_revision(connection)
    if stamped is None:             # made before Alembic: its flowplan_meta says where it is
        command.stamp(config, revision_of(current))
    elif stamped != revision_of(current):
        raise SchemaVersionError(
            f"the store's {ALEMBIC_TABLE} ({stamped}) and {Meta.__tablename__} "
            f"({SCHEMA_VERSION_KEY} {current}) disagree: it was changed by hand or is damaged")
    if current < latest:
        command.upgrade(config, revision_of(latest))
        write_version(connection, latest)
    return latest
