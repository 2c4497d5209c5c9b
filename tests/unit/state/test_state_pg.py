"""The pg state backend against a real PostgreSQL (tests/support/postgres.py), a database per test.

Reads and writes through one row per team, the serial and lineage check that refuses a stale or
foreign write, the advisory lock held by another real process (refused with its details, taken
over once that process is SIGKILLed, removed by force-unlock), a database restart while the lock
is held (the write is refused, nothing half-written, the next operation reconnects), `state
migrate` from a local file, and a URL whose password never appears in what flowplan says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from postgres import postgres_for_tests, postgres_problem

from flowplan.engine import backend_for, migrate_state
from flowplan.events import StateLockTakenOver
from flowplan.state import LocalStateBackend, ResourceState, State, StateError, StateLockedError
from flowplan.state.pg import PgStateBackend, shown_url

pytestmark = pytest.mark.skipif(postgres_problem() is not None,
                                reason=postgres_problem() or "")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server():
    with postgres_for_tests("flowplan-pg-state-") as pg:
        yield pg


@pytest.fixture
def url(server) -> str:
    return server.create_database(f"state_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def backend(url):
    backend = PgStateBackend(url)
    yield backend
    backend.close()


def resource(name: str, **attributes) -> ResourceState:
    return ResourceState(f"acr_namespace.{name}", "acr_namespace", name, "alicloud", attributes)


HOLD_LOCK = """
import sys, time
from flowplan.state.pg import PgStateBackend

with PgStateBackend(sys.argv[1]).lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def start_holder(url: str, seconds: float = 60) -> tuple[subprocess.Popen, str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, url, str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=REPO)
    lock_id = holder.stdout.readline().strip()
    assert lock_id, holder.stderr.read()
    return holder, lock_id


def stop(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait()


# -- state ------------------------------------------------------------------------------------------

def test_a_new_database_reads_as_an_empty_state_not_yet_written(backend):
    state = backend.read()
    assert (len(state), state.serial) == (0, 0)
    assert not backend.exists()


def test_writes_bump_the_serial_and_read_back_the_same_state(backend, url):
    state = backend.read()
    state.set(resource("team", label="team", tags={"x": 1.5}))
    backend.write(state)
    state.set(resource("ops", label="ops"))
    backend.write(state)
    assert state.serial == 2

    again = PgStateBackend(url)
    try:
        assert again.exists()
        assert again.read() == state
    finally:
        again.close()


def test_a_write_based_on_an_older_serial_is_refused_and_changes_nothing(backend, url):
    first = backend.read()
    first.set(resource("team"))
    backend.write(first)                        # serial 1

    other = PgStateBackend(url)
    try:
        mine, theirs = backend.read(), other.read()
        theirs.set(resource("theirs"))
        other.write(theirs)                     # serial 2
        mine.set(resource("mine"))
        with pytest.raises(StateError, match=r"stale state .* read at serial 1.*serial 2"):
            backend.write(mine)
        assert mine.serial == 1, "a refused write puts the serial back"
        assert other.read().addresses() == ["acr_namespace.team", "acr_namespace.theirs"]
    finally:
        other.close()


def test_a_state_of_another_lineage_is_refused(backend):
    backend.write(State())
    foreign = State(serial=1)                  # same serial, another lineage
    foreign.set(resource("foreign"))
    with pytest.raises(StateError, match="lineage"):
        backend.write(foreign)
    assert len(backend.read()) == 0


def test_two_first_writes_at_once_store_only_one(backend, url):
    other = PgStateBackend(url)
    try:
        a, b = State(), State()
        backend.write(a)
        with pytest.raises(StateError, match="lineage"):
            other.write(b)
        assert backend.read().lineage == a.lineage
    finally:
        other.close()


def test_each_team_has_its_own_row(url):
    default, ops = PgStateBackend(url), PgStateBackend(url, team="ops")
    try:
        state = State()
        state.set(resource("team"))
        default.write(state)
        assert len(ops.read()) == 0 and not ops.exists()
        with ops.lock("apply"), default.lock("apply"):    # separate locks too
            pass
    finally:
        default.close()
        ops.close()


# -- lock -------------------------------------------------------------------------------------------

def test_a_lock_held_by_another_process_is_refused_with_its_holder(backend, url):
    holder, lock_id = start_holder(url)
    try:
        with pytest.raises(StateLockedError) as refused:
            with backend.lock("plan"):
                pass
        message = str(refused.value)
        assert f"pid {holder.pid}" in message
        assert "operation: apply" in message
        assert f"flowplan force-unlock {lock_id}" in message
        info = backend.lock_info()
        assert (info.id, info.pid, info.operation) == (lock_id, holder.pid, "apply")
    finally:
        stop(holder)


def test_a_holder_killed_with_sigkill_releases_the_lock_and_its_row_is_taken_over(backend, url):
    holder, lock_id = start_holder(url)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    heard = []
    # The server notices the dead client's closed socket at once; allow it a moment.
    for _ in range(50):
        try:
            with backend.lock("apply", heard.append) as info:
                assert backend.lock_info().id == info.id
            break
        except StateLockedError:
            time.sleep(0.1)
    else:
        pytest.fail("the advisory lock of a SIGKILLed holder was not released")
    assert [type(event) for event in heard] == [StateLockTakenOver]
    assert (heard[0].lock_id, heard[0].holder) == (lock_id, f"{heard[0].holder.split(' pid ')[0]}"
                                                   f" pid {holder.pid}")
    assert backend.lock_info() is None, "the lock row goes with the lock"


def test_force_unlock_needs_the_lock_id_and_frees_the_lock_of_a_live_holder(backend, url):
    holder, lock_id = start_holder(url)
    try:
        with pytest.raises(StateError, match="lock id mismatch"):
            backend.force_unlock("not-the-id")
        backend.force_unlock(lock_id)
        assert backend.lock_info() is None
        with backend.lock("apply"):                 # free at once: the holder's session ended
            backend.write(backend.read())
    finally:
        stop(holder)
    with pytest.raises(StateError, match="not locked"):
        backend.force_unlock(lock_id)


def test_a_write_after_the_lock_was_forced_away_is_refused(backend, url):
    other = PgStateBackend(url)
    try:
        with backend.lock("apply") as info:
            state = backend.read()
            other.force_unlock(info.id)
            state.set(resource("late"))
            with pytest.raises(StateError, match="lock .* was lost"):
                backend.write(state)
        assert not other.exists()
    finally:
        other.close()


def test_a_database_restart_while_locked_refuses_the_write_and_the_next_lock_reconnects(
        server, backend):
    with backend.lock("apply"):
        state = backend.read()
        server.restart()
        state.set(resource("after-restart"))
        with pytest.raises(StateError) as refused:
            backend.write(state)
        assert "Traceback" not in str(refused.value)
    assert not backend.exists(), "nothing was half-written"
    with backend.lock("apply"):                     # a fresh session after the restart
        state = backend.read()
        state.set(resource("after-restart"))
        backend.write(state)
    assert backend.read().addresses() == ["acr_namespace.after-restart"]


# -- URLs and their passwords -----------------------------------------------------------------------

def test_shown_urls_hide_the_password():
    assert shown_url("postgresql://flowplan:s3cret@db:5432/fp?sslmode=require") == \
        "postgresql://flowplan:***@db:5432/fp"
    assert shown_url("postgresql://db/fp") == "postgresql://db/fp"
    assert "p@ss" not in shown_url("postgresql://u:p@ss@db/fp")


def test_a_wrong_password_or_a_stopped_server_never_shows_the_password(server, url):
    password = server.password
    wrong = url.replace(password, "Wr0ngPassw0rdValue")
    backend = PgStateBackend(wrong)
    with pytest.raises(StateError) as refused:
        backend.read()
    assert "Wr0ngPassw0rdValue" not in str(refused.value) and "***" in str(refused.value)
    assert "Wr0ngPassw0rdValue" not in repr(backend) + backend.path

    unreachable = PgStateBackend(url.replace(f":{server.port}/", ":1/"))
    with pytest.raises(StateError) as refused:
        with unreachable.lock("apply"):
            pass
    assert password not in str(refused.value)
    assert "cannot lock the state in postgresql+psycopg://flowplan:***@127.0.0.1:1/" in \
        str(refused.value)


def test_backend_for_names_the_pg_backend_from_the_settings_or_the_environment(url, tmp_path,
                                                                              monkeypatch):
    settings = {"state": {"backend": "pg", "url": url.replace("postgresql+psycopg", "postgresql")}}
    assert isinstance(backend_for(tmp_path, settings), PgStateBackend)
    monkeypatch.setenv("FLOWPLAN_STATE_URL", url)
    assert isinstance(backend_for(tmp_path, {"state": {"backend": "pg"}}), PgStateBackend)
    monkeypatch.delenv("FLOWPLAN_STATE_URL")
    from flowplan.diagnostics import DiagnosticsError
    with pytest.raises(DiagnosticsError) as missing:
        backend_for(tmp_path, {"state": {"backend": "pg"}})
    assert "FLOWPLAN_STATE_URL" in missing.value.diagnostics.items[0].detail
    with pytest.raises(DiagnosticsError) as foreign:
        backend_for(tmp_path, {"state": {"backend": "pg", "url": "mysql://u:Sec4et@db/x"}})
    detail = foreign.value.diagnostics.items[0].detail
    assert "postgresql://" in detail and "Sec4et" not in detail and "u:***@db" in detail
    with pytest.raises(DiagnosticsError) as malformed:
        backend_for(tmp_path, {"state": {"backend": "pg", "url": "postgresql://u:Sec4et@db:x/y"}})
    detail = malformed.value.diagnostics.items[0].detail
    assert "not a valid database URL" in detail and "Sec4et" not in detail


def test_a_user_without_create_rights_uses_tables_made_before(server, url):
    PgStateBackend(url).read()                              # the owner makes the tables
    database = url.rsplit("/", 1)[1]
    role = f"limited_{database}"                 # PostgreSQL 15: no CREATE on public for it
    server.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'limitedpw'")
    server.psql("GRANT SELECT, INSERT, UPDATE, DELETE ON flowplan_state, flowplan_state_lock "
                f"TO {role}", database=database)
    limited = PgStateBackend(url.replace(f"flowplan:{server.password}", f"{role}:limitedpw"))
    try:
        with limited.lock("apply"):
            state = limited.read()
            state.set(resource("team"))
            limited.write(state)
        assert limited.read().serial == 1
    finally:
        limited.close()


# -- migrate ----------------------------------------------------------------------------------------

def test_migrate_copies_the_local_state_and_refuses_to_overwrite_without_force(url, tmp_path):
    local = LocalStateBackend(tmp_path / ".flowplan" / "state.json")
    state = State()
    state.set(resource("team"))
    local.write(state)
    local.write(state)                                  # serial 2
    settings = {"state": {"backend": "pg", "url": url}}

    migrated = migrate_state(tmp_path, settings)
    assert (migrated.serial, migrated.resources, migrated.replaced) == (2, 1, False)
    target = PgStateBackend(url)
    try:
        assert target.read() == state, "serial, lineage and resources are kept"
        assert local.path.exists(), "the local file stays"

        with pytest.raises(StateError, match="already has a state .*--force"):
            migrate_state(tmp_path, settings)
        state.set(resource("ops"))
        local.write(state)
        assert migrate_state(tmp_path, settings, force=True).replaced
        assert target.read() == state
    finally:
        target.close()
    assert "***" in migrated.target and url.split(":")[2].split("@")[0] not in migrated.target


def test_migrate_without_a_local_state_or_a_pg_backend_says_what_is_missing(url, tmp_path):
    with pytest.raises(StateError, match="no local state to migrate"):
        migrate_state(tmp_path, {"state": {"backend": "pg", "url": url}})
    with pytest.raises(StateError, match='backend = "pg"'):
        migrate_state(tmp_path, {"state": {"backend": "local"}})
    assert json.loads(json.dumps(PgStateBackend(url).read().to_dict()))["serial"] == 0
