"""The state lock: one holder at a time across processes and threads; a lock left by a process
of this host that no longer runs is taken over with a warning, any other needs force-unlock.

Whether a process still runs is told by its pid, its start time and the boot it ran in, so a pid
reused by a later process does not keep a dead holder's lock alive."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from flowplan.events import StateLockTakenOver
from flowplan.state import LocalStateBackend, LockInfo, StateError, StateLockedError
from flowplan.state.lock import (boot_id, holder_gone, process_gone, process_start_time,
                                 this_process)

REPO_ROOT = Path(__file__).resolve().parents[3]

HOLD_LOCK = textwrap.dedent("""
    import json, sys
    from flowplan.state import LocalStateBackend
    backend = LocalStateBackend(sys.argv[1])
    with backend.lock("apply") as info:
        print(json.dumps(info.to_dict()), flush=True)
        sys.stdin.read()          # hold the lock until the parent closes our stdin
""")


def start_lock_holder(state_path: Path) -> tuple[subprocess.Popen, dict]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state_path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    line = child.stdout.readline()
    assert line, "the lock-holding child exited before taking the lock"
    return child, json.loads(line)


def test_lock_file_holds_id_holder_operation_created_and_path(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with backend.lock("plan") as info:
        on_disk = json.loads(backend.lock_path.read_text())
        assert on_disk == info.to_dict()
        assert backend.lock_info() == info
        assert info.operation == "plan" and info.path == str(backend.path)
        assert info.holder.endswith(f" pid {os.getpid()}") and "@" in info.holder
        assert info.created.endswith("+00:00")
    assert backend.lock_info() is None
    assert not backend.lock_path.exists()


def test_second_locker_in_another_process_fails_at_once_with_holders_details(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    child, held = start_lock_holder(backend.path)
    try:
        started = time.monotonic()
        with pytest.raises(StateLockedError) as caught:
            with backend.lock("apply"):
                pytest.fail("got a lock another process holds")
        assert time.monotonic() - started < 1.0
        error = caught.value
        assert error.info == LockInfo.from_dict(held)
        assert error.info.holder.endswith(f" pid {child.pid}")
        message = str(error)
        for detail in (held["holder"], held["operation"], held["created"], held["id"]):
            assert detail in message
        assert f"flowplan force-unlock {held['id']}" in message
    finally:
        child.stdin.close()
        assert child.wait(timeout=10) == 0
    assert backend.lock_info() is None            # released by the child on exit
    with backend.lock("apply"):
        pass


def test_second_locker_in_another_thread_fails_at_once(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    outcome: list[BaseException] = []

    def try_lock():
        try:
            with backend.lock("destroy"):
                pass
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    with backend.lock("apply") as info:
        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], StateLockedError)
    assert outcome[0].info.id == info.id and outcome[0].info.operation == "apply"


def test_lock_is_released_when_the_block_raises(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with pytest.raises(RuntimeError):
        with backend.lock("apply"):
            raise RuntimeError("apply failed")
    assert backend.lock_info() is None


def test_force_unlock_with_a_wrong_id_keeps_the_lock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with backend.lock("apply") as info:
        with pytest.raises(StateError, match="lock id mismatch"):
            backend.force_unlock("not-the-id")
        assert backend.lock_info() == info


def test_force_unlock_without_a_lock_says_there_is_none(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with pytest.raises(StateError, match="not locked"):
        backend.force_unlock("any")


def write_lock_file(backend: LocalStateBackend, **fields) -> LockInfo:
    """A lock file as a holder would leave it, with `fields` overriding this process's details."""
    info = this_process("apply", "left-behind-id", "2024-01-01T00:00:00+00:00", str(backend.path))
    info = LockInfo.from_dict({**info.to_dict(), **fields})
    backend.lock_path.parent.mkdir(parents=True, exist_ok=True)
    backend.lock_path.write_text(json.dumps(info.to_dict()))
    return info


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    return child.pid


def test_lock_file_names_the_holders_host_pid_start_time_and_boot(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with backend.lock("apply") as info:
        assert info.host == socket.gethostname()
        assert info.pid == os.getpid()
        assert info.start_time == process_start_time(os.getpid())
        assert info.boot_id == boot_id()
        assert json.loads(backend.lock_path.read_text())["start_time"] == info.start_time


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_running_process_with_its_own_start_time_is_running():
    assert process_start_time(os.getpid()) is not None
    assert process_gone(os.getpid(), process_start_time(os.getpid()), boot_id()) is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_reused_pid_with_another_start_time_is_a_dead_holder():
    started = process_start_time(os.getpid())
    reason = process_gone(os.getpid(), started - 1, boot_id())
    assert reason is not None and "another process" in reason


def test_a_pid_that_no_longer_exists_is_a_dead_holder():
    pid = dead_pid()
    assert "no longer running" in process_gone(pid, None, None)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_holder_from_before_a_reboot_is_dead_even_if_its_pid_and_start_time_match():
    reason = process_gone(os.getpid(), process_start_time(os.getpid()),
                          "00000000-0000-0000-0000-000000000000")
    assert reason is not None and "restarted" in reason


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_process_not_yet_reaped_is_a_dead_holder():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(child.pid)
        assert process_gone(child.pid, started) is None
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_gone(child.pid, started) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_gone(child.pid, started) == f"process {child.pid} has exited"
    finally:
        child.kill()
        child.wait()


def test_a_holder_on_another_host_is_never_judged_dead():
    info = this_process("apply", "x", "now", "/state.json")
    elsewhere = LockInfo.from_dict({**info.to_dict(), "host": "some-other-host",
                                    "pid": dead_pid()})
    assert holder_gone(elsewhere) is None


def test_lock_left_by_a_killed_process_is_taken_over_with_a_warning_naming_it(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    child, held = start_lock_holder(backend.path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdin.close()
    child.stdout.close()
    assert backend.lock_info() == LockInfo.from_dict(held)      # left behind
    events: list[object] = []
    with backend.lock("plan", events.append) as info:
        assert info.id != held["id"]
        assert backend.lock_info() == info
    assert backend.lock_info() is None
    assert events == [StateLockTakenOver(str(backend.path), held["holder"], "apply",
                                         held["created"], held["id"],
                                         f"process {child.pid} is no longer running")]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_lock_naming_a_reused_pid_is_taken_over(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    left = write_lock_file(backend, start_time=process_start_time(os.getpid()) - 1)
    events: list[object] = []
    with backend.lock("apply", events.append):
        pass
    assert [e.lock_id for e in events] == [left.id]
    assert "another process" in events[0].reason


def test_lock_naming_a_running_process_is_refused_even_without_the_os_lock(tmp_path):
    # e.g. an older flowplan, which held the lock by the file alone
    backend = LocalStateBackend(tmp_path / "state.json")
    left = write_lock_file(backend)              # this very process, with its real start time
    with pytest.raises(StateLockedError) as caught:
        with backend.lock("apply"):
            pytest.fail("took the lock of a running process")
    assert caught.value.info == left
    assert backend.lock_info() == left


def test_lock_held_on_another_host_is_refused_until_force_unlock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    left = write_lock_file(backend, host="build-7", holder="ci@build-7 pid 4242", pid=dead_pid())
    with pytest.raises(StateLockedError) as caught:
        with backend.lock("apply"):
            pytest.fail("took the lock of another host")
    assert "ci@build-7 pid 4242" in str(caught.value)
    assert f"flowplan force-unlock {left.id}" in str(caught.value)
    backend.force_unlock(left.id)
    assert backend.lock_info() is None
    with backend.lock("apply") as info:
        assert info.id != left.id


def test_force_unlock_with_the_right_id_frees_a_lock_left_by_a_killed_process(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    child, held = start_lock_holder(backend.path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdin.close()
    child.stdout.close()
    backend.force_unlock(held["id"])
    assert backend.lock_info() is None


def test_only_one_of_two_lockers_takes_over_a_dead_holders_lock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    write_lock_file(backend, pid=dead_pid())
    barrier = threading.Barrier(2)
    both_tried = threading.Event()
    outcomes: list[object] = []
    events: list[object] = []
    tried = threading.Semaphore(0)

    def try_lock() -> None:
        barrier.wait()
        try:
            with LocalStateBackend(backend.path).lock("apply", events.append):
                tried.release()
                outcomes.append("locked")
                both_tried.wait(timeout=10)
        except StateLockedError as error:
            outcomes.append(error)
            tried.release()

    threads = [threading.Thread(target=try_lock) for _ in range(2)]
    for thread in threads:
        thread.start()
    tried.acquire(timeout=10)
    tried.acquire(timeout=10)
    both_tried.set()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes.count("locked") == 1, outcomes
    assert len(events) == 1
    assert backend.lock_info() is None


def test_leaving_a_force_unlocked_block_does_not_remove_the_next_holders_lock(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    with backend.lock("apply") as first:
        backend.force_unlock(first.id)
        other = LocalStateBackend(backend.path)
        second_lock = other.lock("plan")
        second = second_lock.__enter__()
    assert backend.lock_info() == second
    second_lock.__exit__(None, None, None)
    assert backend.lock_info() is None
