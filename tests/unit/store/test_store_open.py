"""Opening the store: where the SQLite file goes, the pragmas, timestamps."""

from __future__ import annotations

import sqlite3
from datetime import timezone

import pytest

from sqlalchemy import text

from flowplan.store import Store
from flowplan.store import database
from flowplan.store.database import SQLITE_BUSY_TIMEOUT_MS, StoreBusy


def test_open_puts_relative_sqlite_path_under_base_dir_and_creates_its_directory(tmp_path):
    with Store.open("sqlite:///.flowplan/flowplan.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {"stage": {}}, "abc")
        assert store.url == f"sqlite:///{tmp_path / '.flowplan' / 'flowplan.db'}"
    assert (tmp_path / ".flowplan" / "flowplan.db").is_file()


def test_open_takes_absolute_sqlite_path_as_given(tmp_path):
    path = tmp_path / "deep" / "store.db"
    with Store.open(f"sqlite:///{path}", base_dir=tmp_path / "elsewhere") as store:
        store.register_pipeline("app", {}, "abc")
    assert path.is_file()
    assert not (tmp_path / "elsewhere").exists()


def test_open_sets_wal_busy_timeout_and_foreign_keys(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        with store._engine.connect() as connection:
            pragma = lambda name: connection.execute(text(f"PRAGMA {name}")).scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS == 60_000
            assert pragma("foreign_keys") == 1


def hold_write_lock(path):
    """Another process's writer, as SQLite sees it: a connection inside BEGIN IMMEDIATE."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_opening_a_store_whose_schema_is_current_waits_for_no_writer(tmp_path, monkeypatch):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    holder = hold_write_lock(tmp_path / "store.db")
    try:
        with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
            assert store.list_pipelines() == []
    finally:
        holder.rollback()


def test_a_write_locked_out_past_the_busy_timeout_says_the_store_is_busy(tmp_path,
                                                                        monkeypatch):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    holder = hold_write_lock(tmp_path / "store.db")
    try:
        with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
            with pytest.raises(StoreBusy) as busy:
                store.register_deployment_group("daily", "daily", {})
    finally:
        holder.rollback()
    assert str(busy.value) == (f"the store sqlite:///{tmp_path}/store.db stayed locked by other "
                               "processes writing to it for 0.1 s: try again (a PostgreSQL store "
                               "serves many concurrent runs better)")


def test_reopened_store_sees_what_was_registered(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_deployment_group("daily", "daily", {"host": {"web1": {}}})
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        assert store.get_deployment_group("daily").definition == {"host": {"web1": {}}}


def test_timestamps_come_back_timezone_aware_in_utc_and_are_stored_as_utc(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        record = store.register_pipeline("app", {}, "abc")
    assert record.created_at.tzinfo == timezone.utc
    with sqlite3.connect(tmp_path / "store.db") as raw:
        stored = raw.execute("SELECT created_at FROM pipelines").fetchone()[0]
    assert stored.startswith(record.created_at.strftime("%Y-%m-%d %H:%M:%S"))


def test_in_memory_store_is_shared_between_threads():
    import threading

    with Store.open("sqlite://") as store:
        thread = threading.Thread(target=store.register_pipeline, args=("app", {}, "abc"))
        thread.start()
        thread.join()
        assert store.get_pipeline("app") is not None
