"""Writers' turns at a SQLite store (flowplan.store.sqlite_turns): every write transaction holds
the turn from BEGIN IMMEDIATE to its end, gives it back however it ends, and a writer that
cannot get it in time gets StoreBusy."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import stat
import threading

import pytest

from tests.support.threads import at_once

from flowplan.store import Store
from flowplan.store import database
from flowplan.store.database import StoreBusy
from flowplan.store.sqlite_turns import TurnConnection, WriterTurns


def turns_of(store: Store) -> WriterTurns:
    with store._engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        assert isinstance(dbapi, TurnConnection)
        return dbapi.turns


def held_by_another_process(path):
    """The lock file flocked through a descriptor of its own: to this process's turns, another
    process holding the turn."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_the_lock_file_sits_beside_the_database_readable_by_its_user_only(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {}, "abc")
    lock = tmp_path / "store.db-lock"
    assert lock.is_file()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_each_write_holds_the_turn_until_its_end_and_reads_take_none(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        turns = turns_of(store)
        held_while_writing = []
        original = turns.take

        def take():
            original()
            held_while_writing.append(fcntl_held(turns.path))

        turns.take = take
        store.register_pipeline("app", {}, "abc")         # through a session
        store.list_pipelines()                            # a read
        store.record(steps=[], tasks=[], chunks=[])       # nothing to write: no transaction
        store.record(steps=[(1, {"status": "running"})])  # the recorder's own path
        assert held_while_writing == [True, True]
        assert not fcntl_held(turns.path)                 # given back after each


def fcntl_held(path) -> bool:
    """Whether some descriptor holds the flock on `path` (tried from a fresh one)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_a_failed_write_gives_the_turn_back(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        with pytest.raises(Exception):
            store.record(steps=[(999, {"no_such_column": 1})], tasks=[], chunks=[])
        with pytest.raises(KeyError):
            store.claim_run(12345, 1, "host", lambda run: False)
        assert not fcntl_held(turns_of(store).path)
        store.register_pipeline("app", {}, "abc")       # and the next write gets it


def test_a_write_waits_for_another_processs_turn_and_then_goes_ahead(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        fd = held_by_another_process(tmp_path / "store.db-lock")
        done = threading.Event()
        writer = threading.Thread(target=lambda: (store.register_pipeline("app", {}, "abc"),
                                                  done.set()))
        writer.start()
        assert not done.wait(0.3)             # waiting for the turn
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        writer.join(10)
        assert done.is_set()
        assert store.get_pipeline("app") is not None


def test_a_turn_not_given_back_in_time_is_store_busy(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    fd = held_by_another_process(tmp_path / "store.db-lock")
    try:
        with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
            with pytest.raises(StoreBusy) as busy:
                store.register_pipeline("app", {}, "abc")
            assert "stayed locked by other processes writing to it for 0.2 s" in str(busy.value)
            assert store.list_pipelines() == []           # reading needs no turn
    finally:
        os.close(fd)


def test_threads_of_one_process_take_turns_and_every_write_lands(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        def register(i):
            for j in range(10):
                store.register_pipeline(f"p{i}-{j}", {}, "abc")

        assert at_once(register, 8) == []
        assert len(store.list_pipelines()) == 80


def _register_many(path: str, prefix: str, count: int) -> None:
    with Store.open(f"sqlite:///{path}") as store:
        for i in range(count):
            store.register_pipeline(f"{prefix}{i}", {}, "abc")


def test_processes_take_turns_and_every_write_lands(tmp_path):
    path = tmp_path / "store.db"
    Store.open(f"sqlite:///{path}").close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_register_many, args=(str(path), f"w{i}-", 40))
                 for i in range(3)]
    for process in processes:
        process.start()
    _register_many(str(path), "main-", 40)
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with Store.open(f"sqlite:///{path}") as store:
        assert len(store.list_pipelines()) == 160


def test_a_lock_file_that_cannot_be_opened_leaves_sqlites_own_waiting(tmp_path):
    (tmp_path / "store.db-lock").mkdir()        # not a file: cannot be opened for writing
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {}, "abc")
        assert store.get_pipeline("app") is not None


def test_a_forked_child_does_not_inherit_its_parents_turn(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("before", {}, "abc")
        turns = turns_of(store)
        turns.take()                  # a thread of the parent holds the turn at the fork
        try:
            pid = os.fork()
            if pid == 0:              # the child: the same store, turns of its own, waiting
                code = 1              # for the parent's like any other process
                try:
                    store._engine.dispose(close=False)     # the parent's connections stay its
                    store.register_pipeline("child", {}, "abc")
                    code = 0
                finally:
                    os._exit(code)
            threading.Event().wait(0.3)
            assert store.get_pipeline("child") is None
        finally:
            turns.give_back()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.get_pipeline("child") is not None
