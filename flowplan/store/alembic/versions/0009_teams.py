"""Schema version 9: teams. A `team` column (default "default", which every older row joins) on
the rows a team owns: pipelines, schedules, deployment groups, runs, cache entries and webhook
deliveries; their unique constraints gain it (two teams may both register `app`, and each numbers
its runs from 1). Schedule ticks are keyed by (schedule, team). `team_members` records which
users belong to which team. Task and step runs, logs, approvals, artifacts and deploy records
belong to their run, so to its team, and need no column.

On PostgreSQL the columns and constraints are altered in place. SQLite cannot drop a constraint:
each table is rebuilt by Alembic's batch mode (copy, drop, rename), with its AUTOINCREMENT
counter carried over so that ids are never reused; `flowplan.store.database` turns foreign keys
off around an upgrade on SQLite, so that dropping the old `runs` does not cascade to its task
runs (it checks them with `PRAGMA foreign_key_check` before committing).

Everything is spelled out here, not taken from the models in `flowplan.store.schema`.
"""

from __future__ import annotations

import warnings

from alembic import op
from sqlalchemy import (Column, ForeignKey, ForeignKeyConstraint, Index, Integer, MetaData,
                        String, Table, UniqueConstraint, inspect, text)

from flowplan.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# table: (its unique constraint before, the columns of its unique constraint after, its name)
SCOPED = {
    "pipelines": (("name",), ("team", "name"), "uq_pipelines_team_name"),
    "schedules": (("name",), ("team", "name"), "uq_schedules_team_name"),
    "deployment_groups": (("name",), ("team", "name"), "uq_deployment_groups_team_name"),
    "runs": (("pipeline", "number"), ("team", "pipeline", "number"),
             "uq_runs_team_pipeline_number"),
    "cache_entries": (("pipeline", "name", "key"), ("team", "pipeline", "name", "key"),
                      "uq_cache_entries_team_key"),
    "deliveries": (("webhook", "once_key"), ("team", "webhook", "once_key"),
                   "uq_deliveries_team_once"),
}


def _team_column() -> Column:
    return Column("team", String(63), nullable=False, server_default="default")


def _tables() -> MetaData:
    metadata = MetaData()
    Table("users", metadata, Column("name", String(100), primary_key=True))  # for the key
    Table("team_members", metadata,
          Column("user", String(100), ForeignKey("users.name", ondelete="CASCADE"),
                 primary_key=True),
          Column("team", String(63), primary_key=True),
          Column("created_at", UTCDateTime, nullable=False))
    return metadata


def _key_ticks_by_team(bind) -> None:
    """`schedule_ticks` keyed by (schedule, team) instead of schedule alone."""
    if bind.dialect.name != "sqlite":
        op.add_column("schedule_ticks", _team_column())
        name = inspect(bind).get_pk_constraint("schedule_ticks")["name"]
        op.drop_constraint(name, "schedule_ticks", type_="primary")
        op.create_primary_key(name, "schedule_ticks", ["schedule", "team"])
        return
    with warnings.catch_warnings():   # SQLAlchemy notes the key's new column: meant so
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_schedule_ticks' specifies")
        with op.batch_alter_table("schedule_ticks", recreate="always") as batch:
            batch.add_column(_team_column())
            batch.create_primary_key("pk_schedule_ticks", ["schedule", "team"])


def _old_unique(bind, table: str, columns: tuple[str, ...]) -> str:
    for unique in inspect(bind).get_unique_constraints(table):
        if tuple(unique["column_names"]) == columns and unique["name"]:
            return unique["name"]
    raise RuntimeError(f"the store's {table} table has no named unique constraint on "
                       f"{', '.join(columns)}: it was changed by hand or is damaged")


def _sqlite_copy(bind, table: str, dropped: tuple[str, ...]) -> Table:
    """The table as it is (reflected: columns, foreign keys, indexes, other unique
    constraints), without its unique constraint on `dropped`: what batch mode copies from.
    (Batch mode cannot drop the unnamed unique constraints SQLite reflects.)"""
    inspector = inspect(bind)
    metadata = MetaData()
    reflected = Table(table, MetaData(), autoload_with=bind)
    for foreign in inspector.get_foreign_keys(table):      # the tables the keys point at
        if foreign["referred_table"] not in metadata.tables:
            Table(foreign["referred_table"], metadata,
                  *[Column(name, Integer, primary_key=True)
                    for name in foreign["referred_columns"]])
    columns = [Column(column.name, column.type, nullable=column.nullable,
                      primary_key=column.primary_key, server_default=column.server_default,
                      autoincrement=column.primary_key)
               for column in reflected.columns]
    extras = [ForeignKeyConstraint(foreign["constrained_columns"],
                                   [f"{foreign['referred_table']}.{name}"
                                    for name in foreign["referred_columns"]],
                                   ondelete=(foreign.get("options") or {}).get("ondelete"))
              for foreign in inspector.get_foreign_keys(table)]
    extras += [UniqueConstraint(*unique["column_names"], name=unique["name"])
               for unique in inspector.get_unique_constraints(table)
               if tuple(unique["column_names"]) != dropped]
    extras += [Index(index["name"], *index["column_names"], unique=bool(index["unique"]))
               for index in inspector.get_indexes(table)]
    return Table(table, metadata, *columns, *extras, sqlite_autoincrement=True)


def _scope(bind, table: str) -> None:
    before, after, name = SCOPED[table]
    if bind.dialect.name != "sqlite":
        old = _old_unique(bind, table, before)
        op.add_column(table, _team_column())
        op.drop_constraint(old, table, type_="unique")
        op.create_unique_constraint(name, table, list(after))
        return
    counter = bind.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :name"),
                           {"name": table}).scalar()
    with op.batch_alter_table(table, recreate="always",
                              copy_from=_sqlite_copy(bind, table, before)) as batch:
        batch.add_column(_team_column())
        batch.create_unique_constraint(name, list(after))
    if counter is not None:        # ids are never reused: the copy must not lower the counter
        bind.execute(text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = :name"),
                     {"seq": counter, "name": table})
        bind.execute(text("INSERT INTO sqlite_sequence (name, seq) SELECT :name, :seq "
                          "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :name)"),
                     {"seq": counter, "name": table})


def upgrade() -> None:
    """Scope the tables by team; rebuild `schedule_ticks` keyed by team; add `team_members`."""
    bind = op.get_bind()
    for table in SCOPED:
        _scope(bind, table)
    _key_ticks_by_team(bind)
    _tables().tables["team_members"].create(bind)
    # the users there were could log in to the one server there was: they stay members of it
    bind.execute(text("INSERT INTO team_members (\"user\", team, created_at) "
                      "SELECT name, 'default', created_at FROM users"))
    if bind.dialect.name == "sqlite":
        broken = bind.execute(text("PRAGMA foreign_key_check")).fetchall()
        if broken:
            raise RuntimeError(f"the teams upgrade left rows pointing nowhere ({broken[:3]}); "
                               "nothing was changed")
