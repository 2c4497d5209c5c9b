"""The `flowplan` command with its state in PostgreSQL (`state { backend = "pg" }`), a real server.

Two `flowplan apply` started at once: one applies, the other fails at once naming the first
process, and every resource is created and recorded once. An apply SIGKILLed while it holds the
lock frees it (its session ends) and the next apply takes the row over and finishes. `flowplan
force-unlock` frees a lock a live process holds. `flowplan state migrate` copies a local state in,
refusing to overwrite without --force. The database restarting between `plan --out` and `apply`
costs nothing but a reconnect; restarting during an apply fails it cleanly (the lock was lost),
keeping what was recorded. The URL's password appears in no output.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from cli_workspace import assert_ok
from configs import ACR_NAMESPACE_AND_REPOSITORY, PG_STATE_SETTINGS
from postgres import postgres_for_tests, postgres_problem

from flowplan.state.pg import PgStateBackend

pytestmark = pytest.mark.skipif(postgres_problem() is not None,
                                reason=postgres_problem() or "")

HOLD_LOCK = """
import sys, time
from flowplan.state.pg import PgStateBackend

with PgStateBackend(sys.argv[1]).lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def server():
    with postgres_for_tests("flowplan-pg-cli-") as pg:
        yield pg


@pytest.fixture
def pg(server, workspace, run_flowplan):
    """A fresh database; `flowplan` runs with its URL in FLOWPLAN_STATE_URL. Yields (url, run)
    where run(*args) fails the test when the password shows up in the output."""
    url = server.create_database(f"cli_{uuid.uuid4().hex[:12]}")

    def run(*args, env=None, **options):
        result = run_flowplan(*args, env={"FLOWPLAN_STATE_URL": url, **(env or {})}, **options)
        assert server.password not in result.output, "the database password was printed"
        return result

    return url, run


def pg_env(workspace, url: str, **extra: str) -> dict[str, str]:
    env = workspace.base_env()
    env.update({"FLOWPLAN_STATE_URL": url, **extra})
    return env


def test_two_applies_at_once_one_applies_and_the_other_names_it(server, pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    env = pg_env(workspace, url, FLOWPLAN_RECORDER_APPLY_DELAY="1.5")
    processes = [subprocess.Popen(workspace.command("apply", "--auto-approve"), env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=workspace.root)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    codes = sorted(process.returncode for process in processes)
    assert codes == [0, 1], outputs
    winner = next(p for p in processes if p.returncode == 0)
    loser_out, loser_err = outputs[[p.returncode for p in processes].index(1)]
    assert "is locked by another flowplan" in loser_err, loser_err
    assert f"pid {winner.pid}" in loser_err and "operation: apply" in loser_err
    assert "flowplan force-unlock " in loser_err
    assert "Traceback" not in loser_err
    for out, err in outputs:
        assert server.password not in out + err

    applied = Counter((call["type"], call["name"], call["pid"]) for call in workspace.calls("apply"))
    assert applied == {("acr_namespace", "team", winner.pid): 1,
                       ("acr_repository", "app", winner.pid): 1}, "only the winner applied"
    state = PgStateBackend(url).read()
    assert sorted(state.addresses()) == ["acr_namespace.team", "acr_repository.app"]
    assert PgStateBackend(url).lock_info() is None
    assert not workspace.state_path.exists(), "no local state file is written"
    assert "No changes" in assert_ok(run("plan")).stdout


def test_an_apply_killed_with_sigkill_frees_the_lock_and_the_next_apply_finishes(pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    process = subprocess.Popen(workspace.command("apply", "--auto-approve"),
                               env=pg_env(workspace, url, FLOWPLAN_RECORDER_APPLY_DELAY="1.0"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=workspace.root)
    backend = PgStateBackend(url)
    deadline = time.monotonic() + 60
    while backend.lock_info() is None:          # it holds the lock
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

    left = backend.lock_info()
    assert left is not None and left.pid == process.pid, "the killed holder's row is left"
    finished = assert_ok(run("apply", "--auto-approve"))
    assert f"Warning: took over the state lock left by {left.holder}" in finished.stderr
    assert "its database session has ended" in finished.stderr
    assert sorted(backend.read().addresses()) == ["acr_namespace.team", "acr_repository.app"]
    assert backend.lock_info() is None


def test_force_unlock_frees_a_lock_held_by_a_live_process(pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        lock_id = holder.stdout.readline().strip()
        assert lock_id, holder.stderr.read()
        locked = run("apply", "--auto-approve")
        assert locked.code == 1 and f"pid {holder.pid}" in locked.stderr, str(locked)
        shown = re.search(r"flowplan force-unlock (\S+)", locked.stderr).group(1)
        assert shown == lock_id
        assert run("force-unlock", "not-the-id").code == 1
        assert "unlocked" in assert_ok(run("force-unlock", shown)).stdout
        done = assert_ok(run("apply", "--auto-approve"))
        assert "Apply complete! Resources: 2 added" in done.stdout
    finally:
        holder.kill()
        holder.wait()


def test_state_migrate_copies_the_local_state_into_pg_once(pg, workspace, run_flowplan):
    url, run = pg
    workspace.write(ACR_NAMESPACE_AND_REPOSITORY)                              # local state first
    assert_ok(run_flowplan("apply", "--auto-approve"))
    local = workspace.state()
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)

    migrated = assert_ok(run("state", "migrate"))
    assert f"(serial {local['serial']}, 2 resources)" in migrated.stdout
    assert "flowplan:***@127.0.0.1" in migrated.stdout
    assert workspace.state_path.exists(), "the local file is kept"
    state = PgStateBackend(url).read()
    assert (state.serial, state.lineage) == (local["serial"], local["lineage"])
    assert "No changes" in assert_ok(run("plan")).stdout
    listed = assert_ok(run("state", "list")).stdout.split()
    assert listed == ["acr_namespace.team", "acr_repository.app"]

    again = run("state", "migrate")
    assert again.code == 1 and "already has a state" in again.stderr and "--force" in again.stderr
    assert "replacing the state it had" in assert_ok(run("state", "migrate", "--force")).stdout


def test_a_database_restart_between_plan_and_apply_only_costs_a_reconnect(server, pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    assert_ok(run("plan", "--out", str(workspace.root / "saved.plan")))
    server.restart()
    done = assert_ok(run("apply", str(workspace.root / "saved.plan")))
    assert "Apply complete! Resources: 2 added" in done.stdout
    assert len(PgStateBackend(url).read()) == 2


def test_an_unreachable_database_is_a_clear_error_without_the_password(server, pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    wrong = url.replace(server.password, "Wr0ngPassw0rdValue")
    failed = run("plan", env={"FLOWPLAN_STATE_URL": wrong})
    assert failed.code == 1, str(failed)
    assert "Error: cannot lock the state in postgresql+psycopg://flowplan:***@" in failed.stderr
    assert "password authentication failed" in failed.stderr
    assert "Wr0ngPassw0rdValue" not in failed.output


def test_a_database_restart_during_apply_fails_it_cleanly_and_the_next_apply_goes_on(
        server, pg, workspace):
    url, run = pg
    workspace.write(PG_STATE_SETTINGS + ACR_NAMESPACE_AND_REPOSITORY)
    process = subprocess.Popen(workspace.command("apply", "--auto-approve"),
                               env=pg_env(workspace, url, FLOWPLAN_RECORDER_APPLY_DELAY="2.0"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=workspace.root)
    backend = PgStateBackend(url)
    deadline = time.monotonic() + 60
    while not backend.exists():                 # the namespace is recorded; the repository next
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    backend.close()
    server.restart()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in err and server.password not in out + err
    assert "Error:" in err and "the state" in err, err
    assert "acr_namespace.team" in PgStateBackend(url).read().addresses(), \
        "what was recorded before the restart stays"

    planned = assert_ok(run("plan"))            # the lock row left behind is taken over
    assert "took over the state lock" in planned.stderr, str(planned)
