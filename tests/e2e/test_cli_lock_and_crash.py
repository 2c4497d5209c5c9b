"""The state lock against a real second process, and an apply killed with SIGKILL half way.

A helper process takes `LocalStateBackend(path).lock("apply")` and sleeps; `flowplan apply` must
fail at once naming it, and `flowplan force-unlock ID` must let the next apply through. A lock
whose holder is gone (killed) is taken over by the next command with a warning naming the old
holder; one naming a process that still runs is refused. Then an apply of six slow recorder
resources is killed with SIGKILL mid-way: the state must still parse, hold every resource whose
completion was printed, the next plan must go ahead at once, and a second apply must finish the
rest without creating anything twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

from cli_workspace import assert_ok

CONFIG = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }
"""

HOLD_LOCK = """
import sys, time
from flowplan.state import LocalStateBackend

with LocalStateBackend(sys.argv[1]).lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def start_lock_holder(state_path, seconds: float = 60) -> tuple[subprocess.Popen, str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(state_path), str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock_id = holder.stdout.readline().strip()
    assert lock_id, holder.stderr.read()
    return holder, lock_id


def test_apply_fails_at_once_while_another_process_holds_the_lock(workspace, run_flowplan):
    workspace.write(CONFIG)
    holder, lock_id = start_lock_holder(workspace.state_path)
    try:
        started = time.monotonic()
        locked = run_flowplan("apply", "--auto-approve")
        took = time.monotonic() - started
        assert locked.code == 1, str(locked)
        assert took < 10, f"apply waited {took:.1f}s for the lock instead of failing at once"
        assert "locked" in locked.stderr
        assert f"pid {holder.pid}" in locked.stderr
        assert "operation: apply" in locked.stderr
        assert lock_id in locked.stderr
        assert f"flowplan force-unlock {lock_id}" in locked.stderr
        assert workspace.calls("apply") == []
        assert not workspace.state_path.exists()

        wrong = run_flowplan("force-unlock", "not-the-id")
        assert wrong.code == 1, str(wrong)
        assert workspace.lock_path.exists()

        shown = re.search(r"flowplan force-unlock (\S+)", locked.stderr).group(1)
        unlocked = assert_ok(run_flowplan("force-unlock", shown))
        assert "unlocked" in unlocked.stdout
        assert not workspace.lock_path.exists()

        done = assert_ok(run_flowplan("apply", "--auto-approve"))
        assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in done.stdout
        assert sorted(workspace.state_addresses()) == ["acr_namespace.team",
                                                       "acr_repository.app"]
        assert not workspace.lock_path.exists(), "apply must release its lock"
    finally:
        holder.kill()
        holder.wait()


def test_every_state_command_refuses_to_run_while_the_state_is_locked(workspace, run_flowplan):
    workspace.write(CONFIG)
    holder, lock_id = start_lock_holder(workspace.state_path)
    try:
        for args in (("plan",), ("apply", "--auto-approve"), ("destroy", "--auto-approve"),
                     ("state", "rm", "acr_namespace.team")):
            locked = run_flowplan(*args)
            assert locked.code == 1, str(locked)
            assert lock_id in locked.stderr, str(locked)
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: its lock was left behind, and the next command takes it over.
    assert workspace.lock_path.exists()
    planned = assert_ok(run_flowplan("plan"))
    assert f"pid {holder.pid}" in planned.stderr and lock_id in planned.stderr, str(planned)
    assert not workspace.lock_path.exists()


def test_lock_naming_a_process_that_still_runs_is_refused(workspace, run_flowplan):
    # A lock file as an older flowplan leaves it (no OS lock held), naming this test's process
    # with its real start time: that holder is alive, so the lock stands.
    from flowplan.state.lock import this_process

    workspace.write(CONFIG)
    info = this_process("apply", "lock-of-a-live-process", "2024-01-01T00:00:00+00:00",
                        str(workspace.state_path))
    workspace.lock_path.parent.mkdir(parents=True)
    workspace.lock_path.write_text(json.dumps(info.to_dict()))
    locked = run_flowplan("plan")
    assert locked.code == 1, str(locked)
    assert f"pid {os.getpid()}" in locked.stderr
    assert "flowplan force-unlock lock-of-a-live-process" in locked.stderr
    assert json.loads(workspace.lock_path.read_text())["id"] == "lock-of-a-live-process"


SIX = "".join(f"""
    acr_namespace "ns{i}" {{
      instance_id = "cri-{i}"
      name        = "ns{i}"
    }}
""" for i in range(1, 7))


def test_apply_killed_mid_way_keeps_finished_resources_and_the_next_plan_takes_over_its_lock(
        workspace, run_flowplan):
    workspace.write(SIX)
    env = workspace.base_env()
    env["FLOWPLAN_RECORDER_APPLY_DELAY"] = "1.0"
    process = subprocess.Popen(workspace.command("apply", "--auto-approve", "--parallelism", "1"),
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=workspace.root)
    started = time.monotonic()
    lines: list[str] = []
    first_done = threading.Event()

    def collect(stream) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if "Creation complete" in line:
                first_done.set()

    readers = [threading.Thread(target=collect, args=(s,), daemon=True)
               for s in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    first_done.wait(timeout=30)
    # ~1.7 s in, and at least 0.25 s after a completion, so the kill lands inside a 0.5 s apply.
    time.sleep(max(0.25, 1.7 - (time.monotonic() - started)))
    seen_before_kill = list(lines)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for reader in readers:
        reader.join(timeout=5)
    assert process.returncode == -signal.SIGKILL

    finished = sorted(re.match(r"(\S+): Creation complete", line).group(1)
                      for line in seen_before_kill if "Creation complete" in line)
    assert finished, "no resource finished before the kill:\n" + "\n".join(lines)
    assert len(finished) < 6, "the apply ended before the kill; nothing was interrupted"
    assert not any("Apply complete" in line for line in lines)

    with open(workspace.state_path, encoding="utf-8") as source:
        state = json.load(source)
    recorded = sorted(r["address"] for r in state["resources"])
    assert set(finished) <= set(recorded), (finished, recorded)
    for address in recorded:
        assert address in workspace.objects(), f"{address} is in the state but was not created"

    # The killed process left its lock behind; the next plan takes it over at once, warning.
    assert workspace.lock_path.exists()
    left = json.loads(workspace.lock_path.read_text())
    assert left["pid"] == process.pid
    started = time.monotonic()
    planned = assert_ok(run_flowplan("plan"))
    assert time.monotonic() - started < 20
    warnings = [line for line in planned.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        f"Warning: took over the state lock left by {left['holder']} (apply since "
        f"{left['created']}, lock id {left['id']}): process {process.pid} is no longer running."
    ], str(planned)
    assert f"pid {process.pid}" in left["holder"]
    assert not workspace.lock_path.exists()

    workspace.clear_calls()
    rest = assert_ok(run_flowplan("apply", "--auto-approve"))
    remaining = 6 - len(recorded)
    assert (f"Apply complete! Resources: {remaining} added, 0 changed, 0 destroyed."
            in rest.stdout), str(rest)
    created_again = [f'{c["type"]}.{c["name"]}' for c in workspace.calls("apply")]
    assert not set(created_again) & set(recorded), "a finished resource was created twice"
    assert all(n == 1 for n in Counter(created_again).values()), created_again
    everything = sorted(f"acr_namespace.ns{i}" for i in range(1, 7))
    assert sorted(workspace.state_addresses()) == everything
    assert not list(workspace.state_path.parent.glob(".state.json*.tmp")), \
        "a temp file of the killed apply outlived the next write"
    assert sorted(workspace.objects()) == everything
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout


class SlowCommand:
    """`flowplan ARGS` running with each recorder apply taking 1 s (room for a loaded machine), its output lines collected
    as they come; `first_done` is set when the first resource completes."""

    def __init__(self, workspace, *args: str):
        env = workspace.base_env()
        env["FLOWPLAN_RECORDER_APPLY_DELAY"] = "1.0"
        self.process = subprocess.Popen(workspace.command(*args), env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=workspace.root)
        self.lines: list[str] = []
        self.first_done = threading.Event()
        self.readers = [threading.Thread(target=self._collect, args=(stream,), daemon=True)
                        for stream in (self.process.stdout, self.process.stderr)]
        for reader in self.readers:
            reader.start()

    def _collect(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            if " complete after " in line:
                self.first_done.set()

    def signal_after_first_resource(self, number: int) -> None:
        assert self.first_done.wait(timeout=60), "\n".join(self.lines)
        self.process.send_signal(number)

    def wait(self) -> int:
        code = self.process.wait(timeout=60)
        for reader in self.readers:
            reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def completed(self, what: str) -> set[str]:
        return {re.match(rf"(\S+): {what} complete", line).group(1)
                for line in self.lines if f"{what} complete" in line}


def test_interrupt_in_the_middle_of_apply_releases_the_lock_and_keeps_what_finished(
        workspace, run_flowplan):
    workspace.write(SIX)
    apply = SlowCommand(workspace, "apply", "--auto-approve", "--parallelism", "1")
    apply.signal_after_first_resource(signal.SIGINT)
    assert apply.wait() == 1
    assert "Traceback" not in apply.output, apply.output
    assert "Error: apply interrupted by Ctrl-C (SIGINT)." in apply.output
    assert "Apply complete!" not in apply.output

    recorded = set(workspace.state_addresses())
    assert apply.completed("Creation") <= recorded
    assert len(recorded) < 6
    assert not workspace.lock_path.exists(), "an interrupted apply must release its lock"

    rest = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert f"Resources: {6 - len(recorded)} added" in rest.stdout
    assert len(workspace.state_addresses()) == 6
    assert len(workspace.objects()) == 6


def test_sigterm_in_the_middle_of_apply_stops_it_cleanly(workspace, run_flowplan):
    workspace.write(SIX)
    apply = SlowCommand(workspace, "apply", "--auto-approve", "--parallelism", "1")
    apply.signal_after_first_resource(signal.SIGTERM)
    assert apply.wait() == 1
    assert "Traceback" not in apply.output, apply.output
    assert "Error: apply interrupted by SIGTERM." in apply.output
    assert "Apply complete!" not in apply.output

    finished = apply.completed("Creation")
    recorded = set(workspace.state_addresses())
    assert finished and finished == recorded, (finished, recorded)
    assert len(recorded) < 6
    assert recorded <= set(workspace.objects())
    assert not workspace.lock_path.exists(), "a terminated apply must release its lock"
    assert not list(workspace.state_path.parent.glob(".state.json*.tmp")), \
        "a terminated apply must leave no temp files"

    rest = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert f"Resources: {6 - len(recorded)} added" in rest.stdout
    assert len(workspace.objects()) == 6


def test_sigterm_in_the_middle_of_destroy_stops_it_cleanly(workspace, run_flowplan):
    workspace.write(SIX)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    destroy = SlowCommand(workspace, "destroy", "--auto-approve", "--parallelism", "1")
    destroy.signal_after_first_resource(signal.SIGTERM)
    assert destroy.wait() == 1
    assert "Traceback" not in destroy.output, destroy.output
    assert "Error: destroy interrupted by SIGTERM." in destroy.output

    destroyed = destroy.completed("Destruction")
    remaining = set(workspace.state_addresses())
    assert destroyed and not destroyed & remaining
    assert len(destroyed) + len(remaining) == 6
    assert remaining == set(workspace.objects())
    assert not workspace.lock_path.exists()
    assert not list(workspace.state_path.parent.glob(".state.json*.tmp"))
