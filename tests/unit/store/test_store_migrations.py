"""Schema versions: create at the latest, upgrade an older store, refuse a newer one."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import Connection, text

from flowplan.store import Migration, SchemaVersionError, Store
from flowplan.store.migrations import BASELINE_VERSION, latest_version


def recorded_version(path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute(
            "SELECT value FROM flowplan_meta WHERE key = 'schema_version'").fetchone()[0])


def add_runs_table(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY, pipeline TEXT)"))


def test_empty_database_is_created_at_the_latest_version(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        assert store.schema_version == latest_version() == BASELINE_VERSION
    assert recorded_version(tmp_path / "store.db") == BASELINE_VERSION


def test_older_store_is_upgraded_by_the_steps_above_its_version_and_keeps_its_rows(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {"kept": True}, "h")

    step = Migration(version=BASELINE_VERSION + 1, description="add runs",
                     upgrade=add_runs_table)
    with Store.open("sqlite:///store.db", base_dir=tmp_path, migrations=[step]) as store:
        assert store.schema_version == BASELINE_VERSION + 1
        assert store.get_pipeline("app").definition == {"kept": True}

    assert recorded_version(tmp_path / "store.db") == BASELINE_VERSION + 1
    with sqlite3.connect(tmp_path / "store.db") as raw:
        assert raw.execute("SELECT count(*) FROM runs").fetchone()[0] == 0

    # already upgraded: opening again runs nothing
    calls = []
    counting = Migration(BASELINE_VERSION + 1, "add runs", upgrade=calls.append)
    Store.open("sqlite:///store.db", base_dir=tmp_path, migrations=[counting]).close()
    assert calls == []


def test_failed_upgrade_leaves_the_store_at_its_old_version(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()

    def half_done(connection: Connection) -> None:
        add_runs_table(connection)
        raise RuntimeError("step failed")

    steps = [Migration(BASELINE_VERSION + 1, "add runs, then fail", upgrade=half_done)]
    with pytest.raises(RuntimeError, match="step failed"):
        Store.open("sqlite:///store.db", base_dir=tmp_path, migrations=steps)

    assert recorded_version(tmp_path / "store.db") == BASELINE_VERSION
    with sqlite3.connect(tmp_path / "store.db") as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert "runs" not in tables


def test_newer_store_is_refused_with_a_clear_error(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("UPDATE flowplan_meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(SchemaVersionError, match=r"schema version 99, newer than the 1"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_flowplan_tables_without_a_version_are_refused(tmp_path):
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("CREATE TABLE pipelines (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaVersionError, match="no flowplan_meta table"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_migration_steps_must_be_consecutive():
    gap = [Migration(BASELINE_VERSION + 2, "skips a version", upgrade=add_runs_table)]
    with pytest.raises(ValueError, match="consecutive"):
        latest_version(gap)
