"""`stamp()` of each state backend: a cheap key that stays the same while nobody writes and
changes with every write (what `flowplan serve` compares to notice an apply): the local file's
inode, size and mtime; the pg row's serial, lineage and time of writing in one query, also when
`state migrate --force` replaces the row keeping its serial. A pg database that does not answer
is a StateError without the password; one that restarted costs a reconnect."""

from __future__ import annotations

import uuid

import pytest

from postgres import postgres_for_tests
from tests.support.ports import free_port

from flowplan.state import LocalStateBackend, ResourceState, State, StateError
from flowplan.state.pg import PgStateBackend


def resource(name: str) -> ResourceState:
    return ResourceState(f"acr_namespace.{name}", "acr_namespace", name, "alicloud",
                         {"name": name})


def test_local_stamp_changes_with_each_write_and_not_otherwise(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    nothing = backend.stamp()
    assert nothing == ("local", str(tmp_path / "state.json"), None)
    state = backend.read()
    state.set(resource("a"))
    backend.write(state)
    first = backend.stamp()
    assert first != nothing
    backend.read()
    assert backend.stamp() == first, "reading changes nothing"
    backend.write(state)                       # same content, new serial: a new file
    assert backend.stamp() != first


@pytest.fixture(scope="module")
def server():
    with postgres_for_tests("flowplan-stamp-") as pg:
        yield pg


@pytest.fixture
def backend(server):
    made = PgStateBackend(server.create_database(f"stamp_{uuid.uuid4().hex[:12]}"))
    yield made
    made.close()


def test_pg_stamp_changes_with_each_write_and_not_otherwise(backend):
    assert backend.stamp() == ("pg", backend.path, None)
    state = backend.read()
    state.set(resource("a"))
    backend.write(state)
    first = backend.stamp()
    assert first[:4] == ("pg", backend.path, 1, state.lineage)
    assert backend.stamp() == first
    other = PgStateBackend(backend.url)        # another process's apply
    try:
        theirs = other.read()
        theirs.set(resource("b"))
        other.write(theirs)
    finally:
        other.close()
    assert backend.stamp()[2] == 2 and backend.stamp() != first


def test_pg_stamp_changes_when_migrate_force_replaces_the_row_at_the_same_serial(backend):
    state = backend.read()
    state.set(resource("a"))
    backend.write(state)
    before = backend.stamp()
    replacement = State(serial=state.serial, lineage=state.lineage)
    replacement.set(resource("z"))
    backend.replace(replacement)
    assert backend.stamp() != before


def test_pg_stamp_of_a_database_that_does_not_answer_is_a_state_error_without_password():
    down = PgStateBackend(f"postgresql://flowplan:hunter2@127.0.0.1:{free_port()}/flowplan")
    with pytest.raises(StateError) as raised:
        down.stamp()
    assert "cannot read the state in postgresql://flowplan:***@127.0.0.1" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_pg_stamp_reconnects_once_after_a_database_restart(server, backend):
    state = backend.read()
    state.set(resource("a"))
    backend.write(state)
    before = backend.stamp()                   # its kept connection is open now
    server.restart()
    assert backend.stamp() == before, "the broken connection is replaced, the key the same"
