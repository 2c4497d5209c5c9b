"""Hardened runs through the real CLI: SIGTERM stops `flowplan run` (and `approve`, which drives
the run on) as Ctrl-C does; a sensitive value in a task's error is shown as ***; decisions, role
grants and secret changes show the operating-system account that made them next to the `--as`
name."""

from __future__ import annotations

import getpass
import os
import pwd
import re
import signal

import pytest

from cli_workspace import assert_ok
from runs_support import (Background, alive, group_members, parse_json, query, step_pids,
                          stored_log, wait_for)

ACCOUNT = pwd.getpwuid(os.geteuid()).pw_name
UID = os.geteuid()
TOKEN = "tok-SENSITIVE-77a1c0de"

CONFIG = """
variable "token" {
  sensitive = true
  default   = "tok-SENSITIVE-77a1c0de"
}

pipeline "slow" {
  stage "work" {
    task "t" {
      step "wait" {
        type = "command"
        run  = "echo waiting; sleep 600"
      }
    }
  }
  stage "after" {
    task "never" {
      step "x" {
        type = "command"
        run  = "echo should not run"
      }
    }
  }
}

pipeline "gated_slow" {
  stage "gate" {
    trigger = "manual"
    task "t" {
      step "wait" {
        type = "command"
        run  = "echo waiting; sleep 600"
      }
    }
  }
}

pipeline "leaky" {
  stage "s" {
    task "t" {
      when = var.token
      step "x" {
        type = "command"
        run  = "echo hi"
      }
    }
  }
}

pipeline "release" {
  stage "gate" {
    task "approval" {
      step "ok" {
        type      = "manual_approval"
        approvers = ["alice", "bob", "carol"]
        method    = "all"
      }
    }
  }
}
"""


@pytest.fixture
def applied(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    return workspace


@pytest.fixture
def background(workspace):
    started: list[Background] = []

    def start(*args: str) -> Background:
        process = Background(workspace, *args, name=f"bg{len(started)}")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def sigterm_while_the_step_sleeps(workspace, runner: Background, pipeline: str) -> int:
    wait_for(lambda: "waiting" in stored_log(workspace, pipeline, 1), what="the step running")
    step = step_pids(workspace, pipeline, 1)["t/wait"]
    assert group_members(step)
    runner.process.send_signal(signal.SIGTERM)
    return step


def test_sigterm_cancels_a_run_and_its_steps_process_group(applied, run_flowplan, background):
    runner = background("run", "slow")
    step = sigterm_while_the_step_sleeps(applied, runner, "slow")
    result = runner.wait(timeout=30)
    assert result.code == 1, str(result)
    assert "Traceback" not in result.stderr
    assert re.search(r"^==> slow#1 canceled", result.stdout, re.M), result.stdout
    assert not group_members(step) and not alive(step)
    shown = parse_json(run_flowplan("runs", "show", "slow#1", "--json"))
    assert shown["run"]["status"] == "canceled"
    assert shown["run"]["error"] == "canceled: interrupted (SIGTERM)"
    statuses = {t["record"]["task"]: t["record"]["status"] for s in shown["stages"]
                for t in s["tasks"]}
    assert statuses == {"t": "canceled", "never": "skipped"}


def test_sigterm_cancels_the_run_an_approve_drives_on(applied, run_flowplan, background):
    assert run_flowplan("run", "gated_slow").code == 4
    approver = background("approve", "gated_slow#1", "--as", "alice")
    step = sigterm_while_the_step_sleeps(applied, approver, "gated_slow")
    result = approver.wait(timeout=30)
    assert result.code == 1, str(result)
    assert not group_members(step)
    shown = parse_json(run_flowplan("runs", "show", "gated_slow#1", "--json"))
    assert shown["run"]["status"] == "canceled"


def test_a_sensitive_value_in_a_task_error_is_shown_masked(applied, run_flowplan):
    failed = run_flowplan("run", "leaky")
    assert failed.code == 1, str(failed)
    assert TOKEN not in failed.output
    shown = assert_ok(run_flowplan("runs", "show", "leaky#1", "--json")).stdout
    tree = assert_ok(run_flowplan("runs", "show", "leaky#1")).stdout
    assert "when: must be true or false, got str '***'" in shown and TOKEN not in shown
    assert "when: must be true or false, got str '***'" in tree and TOKEN not in tree
    assert TOKEN not in str(query(applied, "select error from task_runs"))


def test_approvals_show_the_account_next_to_each_name_given(applied, run_flowplan):
    assert run_flowplan("run", "release").code == 4
    for name in ("alice", "bob"):
        assert run_flowplan("approve", "release#1", "--as", name).code == 4
    finished = run_flowplan("approve", "release#1", "--as", "carol", "--comment", "ship")
    assert finished.code == 0, str(finished)   # one account, three names: still counted

    shown = parse_json(run_flowplan("runs", "show", "release#1", "--json"))
    assert [(a["user"], a["os_user"], a["uid"]) for a in shown["approvals"]] == [
        ("alice", ACCOUNT, UID), ("bob", ACCOUNT, UID), ("carol", ACCOUNT, UID)]
    tree = assert_ok(run_flowplan("runs", "show", "release#1")).stdout
    for name in ("alice", "bob", "carol"):
        who = name if name == ACCOUNT else f"{ACCOUNT} as {name}"
        assert re.search(rf"^approved by {who} at .* \(gate/approval/ok\)", tree, re.M), tree
    assert query(applied, "select user, os_user, uid from approvals order by id") == [
        ("alice", ACCOUNT, UID), ("bob", ACCOUNT, UID), ("carol", ACCOUNT, UID)]


def test_role_grants_and_secret_changes_show_who_made_them(applied, run_flowplan):
    assert_ok(run_flowplan("role", "grant", "release-managers", "mallory", "--as", "root-ish"))
    listed = assert_ok(run_flowplan("role", "list", "release-managers")).stdout
    assert re.search(rf"^mallory  granted by {ACCOUNT} as root-ish at \d{{4}}-", listed, re.M), \
        listed
    env = {"FLOWPLAN_SECRET_KEY": "a-long-operator-passphrase"}
    assert_ok(run_flowplan("secret", "set", "deploy_token", "--as", "erin", input="v4lue-x\n",
                           env=env))
    secrets = assert_ok(run_flowplan("secret", "list")).stdout
    assert re.search(rf"^deploy_token  set by {ACCOUNT} as erin at ", secrets, re.M), secrets
    assert_ok(run_flowplan("role", "revoke", "release-managers", "mallory"))
    assert_ok(run_flowplan("secret", "rm", "deploy_token"))
    rows = query(applied, "select kind, subject, detail, as_user, os_user, uid from changes "
                          "order by id")
    assert [row[:3] for row in rows] == [
        ("role grant", "release-managers", "mallory"), ("secret set", "deploy_token", None),
        ("role revoke", "release-managers", "mallory"), ("secret rm", "deploy_token", None)]
    # without --as, the login name is given, as for approvals
    assert [row[3] for row in rows] == ["root-ish", "erin", getpass.getuser(),
                                        getpass.getuser()]
    assert {row[4:] for row in rows} == {(ACCOUNT, UID)}
