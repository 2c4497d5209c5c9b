"""Schema versions: create at the latest, upgrade an older store, refuse a newer one."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import Connection, text

from flowplan.store import Migration, SchemaVersionError, Store
from flowplan.store.migrations import MIGRATIONS, BASELINE_VERSION, latest_version

LATEST = BASELINE_VERSION + len(MIGRATIONS)


def recorded_version(path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute(
            "SELECT value FROM flowplan_meta WHERE key = 'schema_version'").fetchone()[0])


def add_extra_table(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE extra (id INTEGER PRIMARY KEY, pipeline TEXT)"))


def test_empty_database_is_created_at_the_latest_version(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        assert store.schema_version == latest_version() == LATEST
    assert recorded_version(tmp_path / "store.db") == LATEST


def test_older_store_is_upgraded_by_the_steps_above_its_version_and_keeps_its_rows(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {"kept": True}, "h")

    step = Migration(version=LATEST + 1, description="add extra", upgrade=add_extra_table)
    with Store.open("sqlite:///store.db", base_dir=tmp_path,
                    migrations=[*MIGRATIONS, step]) as store:
        assert store.schema_version == LATEST + 1
        assert store.get_pipeline("app").definition == {"kept": True}

    assert recorded_version(tmp_path / "store.db") == LATEST + 1
    with sqlite3.connect(tmp_path / "store.db") as raw:
        assert raw.execute("SELECT count(*) FROM extra").fetchone()[0] == 0

    # already upgraded: opening again runs nothing
    calls = []
    counting = Migration(LATEST + 1, "add extra", upgrade=calls.append)
    Store.open("sqlite:///store.db", base_dir=tmp_path,
               migrations=[*MIGRATIONS, counting]).close()
    assert calls == []


def test_failed_upgrade_leaves_the_store_at_its_old_version(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()

    def half_done(connection: Connection) -> None:
        add_extra_table(connection)
        raise RuntimeError("step failed")

    steps = [*MIGRATIONS, Migration(LATEST + 1, "add extra, then fail", upgrade=half_done)]
    with pytest.raises(RuntimeError, match="step failed"):
        Store.open("sqlite:///store.db", base_dir=tmp_path, migrations=steps)

    assert recorded_version(tmp_path / "store.db") == LATEST
    with sqlite3.connect(tmp_path / "store.db") as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in tables


def test_newer_store_is_refused_with_a_clear_error(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("UPDATE flowplan_meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(SchemaVersionError, match=rf"schema version 99, newer than the {LATEST}"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_flowplan_tables_without_a_version_are_refused(tmp_path):
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("CREATE TABLE pipelines (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaVersionError, match="no flowplan_meta table"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_migration_steps_must_be_consecutive():
    gap = [Migration(BASELINE_VERSION + 2, "skips a version", upgrade=add_extra_table)]
    with pytest.raises(ValueError, match="consecutive"):
        latest_version(gap)


def make_version_1_store(path) -> None:
    """A store as flowplan wrote it before run history existed."""
    from sqlalchemy import create_engine

    from flowplan.store.schema import Base, DeploymentGroup, Meta, Pipeline, Schedule

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        Base.metadata.create_all(connection, tables=[
            model.__table__ for model in (Meta, Pipeline, Schedule, DeploymentGroup)])
        connection.execute(Meta.__table__.insert().values(key="schema_version", value="1"))
    engine.dispose()


def shape(path) -> dict:
    """Tables with their columns (name, type, nullable), unique constraints and indexes."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(f"sqlite:///{path}")
    inspector = inspect(engine)
    result = {}
    for table in sorted(inspector.get_table_names()):
        result[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)],
            "unique": sorted(tuple(u["column_names"])
                             for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]))
                              for i in inspector.get_indexes(table)),
            "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                    f.get("options", {}).get("ondelete"))
                                   for f in inspector.get_foreign_keys(table)),
        }
    engine.dispose()
    return result


def test_version_1_store_upgraded_to_2_has_the_shape_of_a_fresh_store(tmp_path):
    make_version_1_store(tmp_path / "old.db")
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:
        assert store.schema_version == 2
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()

    upgraded, fresh = shape(tmp_path / "old.db"), shape(tmp_path / "fresh.db")
    assert "runs" in upgraded and "log_chunks" in upgraded
    assert upgraded == fresh
