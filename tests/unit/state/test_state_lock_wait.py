"""Waiting for a held state lock (`--lock-timeout`, flowplan.state.waiting), on the local backend
with a lock held by another thread and by another real process, and on the pg backend against a
real PostgreSQL: 0 fails at once as before; a timeout waits (saying once for whom), polls with
backoff, takes the lock once it is free, or fails with the holder's details and how long it
waited; Ctrl-C while waiting stops cleanly, the holder's lock untouched."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest

from postgres import postgres_for_tests

from flowplan.events import StateLockWaiting
from flowplan.state import LocalStateBackend, StateLockedError
from flowplan.state.pg import PgStateBackend
from flowplan.state.waiting import LockWaitInterrupted, lock_within, parse_lock_timeout
from flowplan.views.progress_text import is_warning, render_event


@pytest.mark.parametrize("text, seconds", [("0", 0), ("30", 30), ("30s", 30), ("5m", 300),
                                           ("1h30m", 5400), (" 2m ", 120)])
def test_lock_timeout_takes_seconds_or_a_duration(text, seconds):
    assert parse_lock_timeout(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "5x", "1.5.2"])
def test_lock_timeout_that_is_not_a_duration_says_what_to_write(text):
    with pytest.raises(ValueError, match="write 0 .* or e.g. 30s, 5m, 1h30m"):
        parse_lock_timeout(text)


def hold_in_thread(backend, seconds: float) -> threading.Thread:
    """Hold `backend`'s lock on a thread for `seconds`; returns once it is held."""
    held = threading.Event()

    def hold() -> None:
        with backend.lock("apply"):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    return thread


def test_zero_fails_at_once_without_waiting(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    events = []
    thread = hold_in_thread(backend, 1.0)
    started = time.monotonic()
    with pytest.raises(StateLockedError) as raised:
        with lock_within(LocalStateBackend(tmp_path / "state.json"), "plan", events.append, 0):
            pass
    assert time.monotonic() - started < 0.5
    assert raised.value.waited is None and events == []
    assert "--lock-timeout DURATION waits for it" in str(raised.value)
    thread.join()


def test_a_timeout_waits_for_the_holder_and_then_takes_the_lock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    events = []
    thread = hold_in_thread(backend, 0.6)
    started = time.monotonic()
    with lock_within(LocalStateBackend(tmp_path / "state.json"), "apply", events.append,
                     10) as info:
        waited = time.monotonic() - started
        assert info.operation == "apply"
    assert 0.3 < waited < 5
    (waiting,) = events                                  # said once, however many polls
    assert isinstance(waiting, StateLockWaiting) and waiting.operation == "apply"
    line = render_event(waiting)
    assert line.startswith("Waiting up to 10s for the state lock on ")
    assert f"held by {waiting.holder} for apply" in line and waiting.lock_id in line
    assert is_warning(waiting), "shown even when progress is quiet (plan --json)"
    assert backend.lock_info() is None, "released at the end of the block"
    thread.join()


def test_a_lock_still_held_at_the_timeout_fails_with_the_holder_and_the_wait(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    thread = hold_in_thread(backend, 2.0)
    holder = backend.lock_info()
    with pytest.raises(StateLockedError) as raised:
        with lock_within(LocalStateBackend(tmp_path / "state.json"), "apply", timeout=0.4):
            pytest.fail("the lock is held")
    message = str(raised.value)
    assert raised.value.waited >= 0.4
    assert "is locked by another flowplan (still, after waiting 0." in message
    assert holder.holder in message and holder.id in message and "operation: apply" in message
    assert f"flowplan force-unlock {holder.id}" in message
    thread.join()


class FakeTime:
    """A clock that `sleep` moves on, recording the sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def test_polls_back_off_doubling_to_two_seconds_and_stop_at_the_timeout(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    thread = hold_in_thread(backend, 2.0)
    fake = FakeTime()
    with pytest.raises(StateLockedError):
        with lock_within(LocalStateBackend(tmp_path / "state.json"), "apply", timeout=10,
                         sleep=fake.sleep, clock=fake.clock):
            pass
    assert fake.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 0.9]
    thread.join()


def test_ctrl_c_while_waiting_stops_cleanly_and_leaves_the_holders_lock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    thread = hold_in_thread(backend, 1.0)
    holder = backend.lock_info()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt("Ctrl-C")

    with pytest.raises(LockWaitInterrupted) as raised:
        with lock_within(LocalStateBackend(tmp_path / "state.json"), "apply", timeout=30,
                         sleep=interrupted):
            pytest.fail("the lock is held")
    message = str(raised.value)
    assert message.startswith("stopped by Ctrl-C while waiting for the state lock on ")
    assert holder.holder in message and "Nothing was locked, read or written" in message
    assert backend.lock_info().id == holder.id, "the holder's lock is untouched"
    thread.join()


HOLD_LOCAL = """
import sys, time
from flowplan.state import LocalStateBackend

with LocalStateBackend(sys.argv[1]).lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(float(sys.argv[2]))
"""

HOLD_PG = HOLD_LOCAL.replace("from flowplan.state import LocalStateBackend",
                             "from flowplan.state.pg import PgStateBackend as LocalStateBackend")


def start_holder(program: str, where: str, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", program, where, str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip(), holder.stderr.read()
    return holder


def test_local_lock_of_another_process_is_waited_for(tmp_path):
    holder = start_holder(HOLD_LOCAL, str(tmp_path / "state.json"), 1.5)
    events = []
    with lock_within(LocalStateBackend(tmp_path / "state.json"), "apply", events.append, 20):
        assert holder.poll() is not None or holder.wait(5) == 0
    assert [f"pid {holder.pid}" in e.holder for e in events] == [True]


@pytest.fixture(scope="module")
def pg_server():
    with postgres_for_tests("flowplan-lock-wait-") as server:
        yield server


def test_pg_lock_of_another_process_is_waited_for_then_taken(pg_server):
    url = pg_server.create_database(f"wait_{uuid.uuid4().hex[:12]}")
    holder = start_holder(HOLD_PG, url, 2.5)
    events = []
    backend = PgStateBackend(url)
    try:
        with lock_within(backend, "apply", events.append, 20) as info:
            assert backend.lock_info().id == info.id
        assert [f"pid {holder.pid}" in e.holder for e in events] == [True]
        assert pg_server.password not in render_event(events[0])
    finally:
        backend.close()
        holder.wait(10)


def test_pg_lock_still_held_at_the_timeout_names_its_holder(pg_server):
    url = pg_server.create_database(f"wait_{uuid.uuid4().hex[:12]}")
    holder = start_holder(HOLD_PG, url, 30)
    backend = PgStateBackend(url)
    try:
        with pytest.raises(StateLockedError) as raised:
            with lock_within(backend, "apply", timeout=0.5):
                pytest.fail("the lock is held")
        assert f"pid {holder.pid}" in str(raised.value) and raised.value.waited >= 0.5
        assert pg_server.password not in str(raised.value)
    finally:
        backend.close()
        holder.kill()
        holder.wait()
