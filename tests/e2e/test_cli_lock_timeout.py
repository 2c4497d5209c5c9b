"""`--lock-timeout` from the command line, against a real PostgreSQL (the pg backend) and the
local file: two `flowplan apply` at once where the second waits (one line naming the first) and
then succeeds after it, every resource applied once; with a short timeout the second fails with
the holder's details; Ctrl-C or SIGTERM while waiting exits cleanly; a bad value is refused with
what to write."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from configs import ACR_NAMESPACE_AND_REPOSITORY, PG_STATE_SETTINGS
from postgres import postgres_for_tests

from flowplan.state.pg import PgStateBackend

HOLD_LOCK = """
import sys, time
from flowplan.state import LocalStateBackend

with LocalStateBackend(sys.argv[1]).lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def server():
    with postgres_for_tests("flowplan-lock-timeout-") as pg:
        yield pg


def start_apply(workspace, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(workspace.command("apply", "--auto-approve", *extra),
                            env={**workspace.base_env(), **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=workspace.root)


def wait_until_locked(url: str, first: subprocess.Popen, timeout: float = 90) -> str:
    """The holder of the pg lock, once the `first` apply holds it."""
    backend = PgStateBackend(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = backend.lock_info()
            if info is not None:
                return info.holder
            if first.poll() is not None:
                raise AssertionError(f"the first apply ended before it was seen holding the "
                                     f"lock: {first.communicate()}")
            time.sleep(0.02)
    finally:
        backend.close()
    raise AssertionError("the first apply never took the lock")


def test_second_apply_waits_for_the_first_and_then_succeeds_on_pg(server, workspace):
    url = server.create_database(f"wait_{uuid.uuid4().hex[:12]}")
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    env = {"FLOWPLAN_STATE_URL": url, "FLOWPLAN_RECORDER_APPLY_DELAY": "6"}
    first = start_apply(workspace, env)
    holder = wait_until_locked(url, first)
    second = start_apply(workspace, env, "--lock-timeout", "2m")
    first_out, first_err = first.communicate(timeout=120)
    second_out, second_err = second.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    waiting = [line for line in (second_out + second_err).splitlines()
               if line.startswith("Waiting up to 2m0s for the state lock")]
    assert len(waiting) == 1, second_out + second_err
    assert f"held by {holder} for apply" in waiting[0] and f"pid {first.pid}" in waiting[0]
    assert "Apply complete! Resources: 0 added" in second_out + second_err, \
        "the second planned after the first had applied"
    applied = Counter((call["type"], call["name"]) for call in workspace.calls("apply"))
    assert applied == {("acr_namespace", "team"): 1, ("acr_repository", "app"): 1}
    for text in (first_out, first_err, second_out, second_err):
        assert server.password not in text


def test_second_apply_with_a_short_timeout_fails_with_the_holders_details_on_pg(server,
                                                                               workspace):
    url = server.create_database(f"wait_{uuid.uuid4().hex[:12]}")
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    env = {"FLOWPLAN_STATE_URL": url, "FLOWPLAN_RECORDER_APPLY_DELAY": "8"}
    first = start_apply(workspace, env)
    wait_until_locked(url, first)
    second = start_apply(workspace, env, "--lock-timeout", "1s")
    second_out, second_err = second.communicate(timeout=60)
    first.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 1), second_err
    assert "is locked by another flowplan (still, after waiting 1" in second_err
    assert f"pid {first.pid}" in second_err and "operation: apply" in second_err
    assert "flowplan force-unlock " in second_err and "Traceback" not in second_err
    assert server.password not in second_out + second_err
    applied = Counter(call["pid"] for call in workspace.calls("apply"))
    assert set(applied) == {first.pid}, "only the first applied"


@pytest.mark.parametrize("sent, named", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_or_sigterm_while_waiting_for_a_local_lock_exits_cleanly(workspace, sent, named):
    workspace.write(ACR_NAMESPACE_AND_REPOSITORY)
    workspace.state_path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(workspace.state_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock_id = holder.stdout.readline().strip()
        assert lock_id, holder.stderr.read()
        waiting = start_apply(workspace, {}, "--lock-timeout", "5m")
        line = waiting.stderr.readline()
        assert line.startswith("Waiting up to 5m0s for the state lock on "), line
        assert f"pid {holder.pid}" in line and lock_id in line
        waiting.send_signal(sent)
        rest_out, rest_err = waiting.communicate(timeout=30)
        assert waiting.returncode == 1
        assert f"Error: stopped by {named} while waiting for the state lock" in rest_err
        assert "Nothing was locked, read or written" in rest_err
        assert "Traceback" not in rest_err and "Aborted" not in rest_err
        assert workspace.calls("apply") == []
        assert holder.poll() is None, "the holder still runs and holds its lock"
        from flowplan.state import LocalStateBackend
        assert LocalStateBackend(workspace.state_path).lock_info().id == lock_id
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("command", [("plan",), ("apply",), ("destroy",), ("state", "rm", "x.y"),
                                     ("import", "acr_namespace.team", "team")])
def test_a_lock_timeout_that_is_not_a_duration_is_refused(workspace, run_flowplan, command):
    workspace.write(ACR_NAMESPACE_AND_REPOSITORY)
    result = run_flowplan(*command, "--lock-timeout", "soon")
    assert result.code == 2, result.output
    assert "--lock-timeout 'soon' is not a duration" in result.stderr
    assert workspace.calls("apply") == []
