"""Runs across real processes: `flowplan cancel` from another process kills the steps' whole
process groups (a step ignoring SIGTERM too, after the grace period), a `flowplan run` killed
with SIGKILL mid-step is marked `interrupted` and `flowplan resume` finishes it, two concurrent
`flowplan run` of one pipeline are both recorded with distinct numbers, and `logs --follow` in
another process ends when the run finishes."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from cli_workspace import assert_ok, write_and_apply
from runs_support import (Background, alive, fill, group_members, parse_json, run_status,
                          step_pids, stored_log, wait_for)

CONFIG = """
pipeline "slow" {
  stage "work" {
    task "plain" {
      step "wait" {
        type = "command"
        run  = "echo waiting-plain; sleep 600"
      }
    }
    task "stubborn" {
      step "wait" {
        type = "command"
        run  = "trap '' TERM; echo waiting-stubborn; sleep 600"
      }
    }
  }
  stage "after" {
    task "never" {
      step "x" {
        type = "command"
        run  = "echo should not run >> @TRACE@/never"
      }
    }
  }
}

pipeline "crashy" {
  stage "first" {
    task "quick" {
      step "mark" {
        type = "command"
        run  = "echo quick >> @TRACE@/quick"
      }
    }
  }
  stage "second" {
    task "long" {
      step "work" {
        type = "command"
        run  = <<-EOT
          echo attempt >> @TRACE@/long
          if [ -f @TRACE@/long-started ]; then
            echo resumed and done
          else
            touch @TRACE@/long-started
            echo working-long
            sleep 600
          fi
        EOT
      }
    }
  }
  stage "third" {
    task "last" {
      step "mark" {
        type = "command"
        run  = "echo last >> @TRACE@/last"
      }
    }
  }
}

pipeline "short" {
  stage "work" {
    task "t" {
      step "s" {
        type = "command"
        run  = "echo run $FLOWPLAN_RUN_NUMBER >> @TRACE@/short; sleep 0.5; echo finished $FLOWPLAN_RUN_NUMBER"
      }
    }
  }
}

pipeline "gated_log" {
  stage "work" {
    task "t" {
      step "s" {
        type = "command"
        run  = <<-EOT
          echo line-1
          while [ ! -f @TRACE@/go ]; do sleep 0.05; done
          echo line-2
          echo line-3 >&2
        EOT
      }
    }
  }
}
"""


@pytest.fixture
def trace(tmp_path):
    directory = tmp_path / "trace"
    directory.mkdir()
    return directory


@pytest.fixture
def configured(workspace, trace):
    write_and_apply(workspace, fill(CONFIG, trace=trace))
    return workspace


@pytest.fixture
def background(workspace):
    started: list[Background] = []

    def start(*args: str, name: str = "bg") -> Background:
        process = Background(workspace, *args, name=f"{name}{len(started)}")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def lines(text: str) -> int:
    return len(text.splitlines())


def test_cancel_from_another_process_kills_the_steps_process_groups(configured, run_flowplan,
                                                                   background, trace):
    runner = background("run", "slow")
    pids = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
        step_pids(configured, "slow", 1)), what="both steps running")
    wait_for(lambda: "waiting-stubborn" in stored_log(configured, "slow", 1)
             and "waiting-plain" in stored_log(configured, "slow", 1), what="steps' first lines")
    plain, stubborn = pids["plain/wait"], pids["stubborn/wait"]
    assert group_members(plain) and group_members(stubborn)

    canceled = run_flowplan("cancel", "slow#1", "--as", "carol")
    assert canceled.code == 0, str(canceled)
    assert "slow#1 is canceled" in canceled.stdout
    assert run_status(configured, "slow", 1) == "canceled"

    # the step that heeds SIGTERM goes at once, with its whole group (the sleep child too)
    wait_for(lambda: not group_members(plain), timeout=5, what="plain step's group gone")
    assert not alive(plain)

    # the one ignoring SIGTERM is killed after the grace period; then the runner exits 1
    result = runner.wait(timeout=40)
    assert result.code == 1, str(result)
    assert "[work/plain/wait] | waiting-plain" in result.stdout
    assert not group_members(stubborn)
    assert not alive(stubborn)
    assert not (trace / "never").exists()

    runs = parse_json(run_flowplan("runs", "slow", "--json"))
    assert [(r["number"], r["status"]) for r in runs] == [(1, "canceled")]
    assert "carol" in (runs[0]["error"] or "")
    tree = parse_json(run_flowplan("runs", "show", "slow#1", "--json"))
    step_statuses = [s["status"] for st in tree["stages"] if st["name"] == "work"
                     for t in st["tasks"] for s in t["steps"]]
    assert step_statuses == ["canceled", "canceled"], tree["stages"]

    again = run_flowplan("cancel", "slow#1")
    assert again.code == 1, str(again)
    assert "already canceled" in again.stderr


def test_run_killed_mid_step_is_interrupted_then_resumed(configured, run_flowplan, background,
                                                        trace):
    runner = background("run", "crashy")
    wait_for(lambda: "working-long" in stored_log(configured, "crashy", 1),
             what="the long step working")
    step_pid = step_pids(configured, "crashy", 1)["long/work"]
    os.kill(runner.pid, signal.SIGKILL)
    runner.process.wait(timeout=10)
    assert run_status(configured, "crashy", 1) == "running"

    table = assert_ok(run_flowplan("runs"))
    assert re.search(r"^crashy#1\s+interrupted\s", table.stdout, re.M), table.stdout
    # what the dead runner left running is stopped
    wait_for(lambda: not group_members(step_pid), timeout=5, what="orphaned step killed")
    assert run_status(configured, "crashy", 1) == "interrupted"

    resumed = run_flowplan("resume", "crashy#1")
    assert resumed.code == 0, str(resumed)
    assert "[second/long/work] | resumed and done" in resumed.stdout
    assert re.search(r"^==> crashy#1 succeeded", resumed.stdout, re.M), resumed.stdout
    assert lines((trace / "quick").read_text()) == 1
    assert lines((trace / "long").read_text()) == 2
    assert lines((trace / "last").read_text()) == 1
    runs = parse_json(run_flowplan("runs", "--json"))
    assert [(r["number"], r["status"]) for r in runs] == [(1, "succeeded")]

    refused = run_flowplan("resume", "crashy#1")
    assert refused.code == 1, str(refused)
    assert "not interrupted" in refused.stderr


def test_resume_of_a_run_another_process_drives_is_refused(configured, run_flowplan,
                                                          background):
    runner = background("run", "crashy")
    wait_for(lambda: "working-long" in stored_log(configured, "crashy", 1),
             what="the long step working")
    refused = run_flowplan("resume", "crashy#1")
    assert refused.code == 1, str(refused)
    assert "crashy#1" in refused.stderr
    assert runner.process.poll() is None
    assert run_status(configured, "crashy", 1) == "running"
    assert run_flowplan("cancel", "crashy#1").code == 0
    assert runner.wait(timeout=30).code == 1


def test_concurrent_runs_of_one_pipeline_are_numbered_without_collision(configured,
                                                                       run_flowplan,
                                                                       background, trace):
    runners = [background("run", "short", name="run") for _ in range(3)]
    results = [r.wait(timeout=60) for r in runners]
    for result in results:
        assert result.code == 0, str(result)
    numbers = sorted(int(re.search(r"==> short#(\d+) started", r.stdout).group(1))
                     for r in results)
    assert numbers == [1, 2, 3]
    runs = parse_json(run_flowplan("runs", "short", "--json"))
    assert sorted((r["number"], r["status"]) for r in runs) == \
        [(1, "succeeded"), (2, "succeeded"), (3, "succeeded")]
    assert sorted((trace / "short").read_text().splitlines()) == ["run 1", "run 2", "run 3"]
    for number in (1, 2, 3):
        log = assert_ok(run_flowplan("logs", f"short#{number}")).stdout
        assert log.rstrip().endswith(f"finished {number}"), log


def test_logs_follow_in_another_process_ends_when_the_run_finishes(configured, background,
                                                                   trace):
    runner = background("run", "gated_log")
    wait_for(lambda: "line-1" in stored_log(configured, "gated_log", 1), what="first line")
    follower = background("logs", "gated_log#1", "--follow", name="follow")
    wait_for(lambda: "line-1" in follower.stdout(), what="follow printing the first line")
    time.sleep(0.5)
    assert follower.process.poll() is None, "logs --follow ended while the run was running"
    assert runner.process.poll() is None
    (trace / "go").write_text("")
    assert runner.wait(timeout=30).code == 0
    followed = follower.wait(timeout=15)
    assert followed.code == 0, str(followed)
    texts = [line.split(" ", 3)[3] for line in followed.stdout.splitlines()
             if line.split(" ", 3)[2:3] in (["|"], ["!"])]
    assert texts == ["line-1", "line-2", "line-3"], followed.stdout
