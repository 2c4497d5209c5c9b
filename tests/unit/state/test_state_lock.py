"""The state lock: one holder at a time across processes and threads, with a way out after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from flowplan.state import LocalStateBackend, LockInfo, StateError, StateLockedError

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


def test_force_unlock_with_the_right_id_frees_a_lock_left_by_a_killed_process(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    child, held = start_lock_holder(backend.path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdin.close()
    child.stdout.close()
    with pytest.raises(StateLockedError):         # the dead process's lock is still there
        with backend.lock("apply"):
            pass
    backend.force_unlock(held["id"])
    assert backend.lock_info() is None
    with backend.lock("apply") as info:
        assert info.id != held["id"]


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
