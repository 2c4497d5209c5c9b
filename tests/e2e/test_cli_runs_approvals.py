"""Approvals through the CLI: who may approve, the foreground continuation of `approve`, what
`runs show` records, and `reject` failing the run. Real processes, the real SQLite store."""

from __future__ import annotations

import os
import pwd
import re

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied
from runs_support import parse_json, query

ACCOUNT = pwd.getpwuid(os.geteuid()).pw_name          # who runs flowplan here: the recorder
AS_ALICE = "alice" if ACCOUNT == "alice" else f"{ACCOUNT} as alice"
AS_BOB = "bob" if ACCOUNT == "bob" else f"{ACCOUNT} as bob"

CONFIG = """
pipeline "release" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo built >> ../../trace-build"
      }
    }
  }
  stage "gate" {
    task "approval" {
      step "ok" {
        type        = "manual_approval"
        approvers   = ["alice", "bob"]
        description = "Deploy to production?"
      }
    }
  }
  stage "deploy" {
    task "ship" {
      step "go" {
        type = "command"
        run  = "echo deploying release; echo done"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """CONFIG applied once; tests copy it rather than applying again."""
    return applied_workspace(tmp_path_factory.mktemp("runs-approvals"), CONFIG)


@pytest.fixture
def waiting(workspace, applied_template, run_flowplan):
    copy_applied(workspace, applied_template)
    started = run_flowplan("run", "release")
    assert started.code == 4, str(started)
    return workspace


def approvals(workspace) -> list[tuple]:
    return query(workspace, "select user, decision, comment from approvals order by id")


def test_approval_by_someone_not_on_the_list_is_refused_naming_who_may(waiting, run_flowplan):
    refused = run_flowplan("approve", "release#1", "--as", "mallory", "--comment", "trust me")
    assert refused.code == 1, str(refused)
    assert "mallory may not approve release#1" in refused.stderr
    assert re.search(r"Who may: .*alice.*bob", refused.stderr), refused.stderr
    assert "deploying" not in refused.output
    assert approvals(waiting) == []
    shown = parse_json(run_flowplan("runs", "show", "release#1", "--json"))
    assert shown["run"]["status"] == "waiting"
    assert shown["approvals"] == []


def test_approve_continues_the_run_in_the_foreground_to_the_end(waiting, run_flowplan):
    approved = run_flowplan("approve", "release#1", "--as", "alice", "--comment", "ok")
    assert approved.code == 0, str(approved)
    assert "==> release#1 continues" in approved.stdout
    assert f"[gate/approval/ok] # approved by {AS_ALICE}" in approved.stdout
    assert "[deploy/ship/go] | deploying release" in approved.stdout
    assert re.search(r"^==> release#1 succeeded in \d+\.\ds$", approved.stdout, re.M)
    # the stage before the gate is not run again
    assert (waiting.config / ".flowplan").exists()
    assert approvals(waiting) == [("alice", "approve", "ok")]

    tree = assert_ok(run_flowplan("runs", "show", "release#1")).stdout
    assert tree.startswith("release#1  succeeded")
    assert re.search(rf"^approved by {AS_ALICE} at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d "
                     r"\(gate/approval/ok\): ok$", tree, re.M), tree
    runs = parse_json(run_flowplan("runs", "release", "--json"))
    assert [(r["number"], r["status"]) for r in runs] == [(1, "succeeded")]


def test_build_stage_runs_once_across_the_wait(waiting, run_flowplan):
    assert run_flowplan("approve", "release#1", "--as", "bob").code == 0
    trace = list(waiting.root.rglob("trace-build"))
    assert len(trace) == 1 and trace[0].read_text() == "built\n"


def test_second_approve_after_the_run_finished_is_refused(waiting, run_flowplan):
    assert run_flowplan("approve", "release#1", "--as", "alice").code == 0
    again = run_flowplan("approve", "release#1", "--as", "bob")
    assert again.code == 1, str(again)
    assert "release#1 is succeeded" in again.stderr or "nothing to approve" in again.stderr
    assert approvals(waiting) == [("alice", "approve", None)]


def test_reject_fails_the_run(waiting, run_flowplan):
    rejected = run_flowplan("reject", "release#1", "--as", "bob", "--comment", "not today")
    assert rejected.code == 1, str(rejected)
    assert "deploying" not in rejected.stdout
    assert re.search(r"^==> release#1 failed", rejected.stdout, re.M), rejected.stdout
    assert approvals(waiting) == [("bob", "reject", "not today")]
    shown = parse_json(run_flowplan("runs", "show", "release#1", "--json"))
    assert shown["run"]["status"] == "failed"
    statuses = {t["record"]["task"]: t["record"]["status"] for s in shown["stages"]
                for t in s["tasks"]}
    assert statuses["compile"] == "succeeded"
    assert statuses["approval"] == "failed"
    assert statuses["ship"] != "succeeded"
    tree = assert_ok(run_flowplan("runs", "show", "release#1")).stdout
    assert re.search(rf"^\s+✗ ok  manual_approval  failed .*rejected by {AS_BOB}: not today",
                     tree, re.M), tree


def test_runs_show_spells_a_rejection_rejected(waiting, run_flowplan):
    assert run_flowplan("reject", "release#1", "--as", "bob", "--comment", "not today").code == 1
    tree = assert_ok(run_flowplan("runs", "show", "release#1")).stdout
    assert re.search(rf"^rejected by {AS_BOB} at .* \(gate/approval/ok\): not today$", tree,
                     re.M), tree


def test_reject_by_someone_not_on_the_list_is_refused(waiting, run_flowplan):
    refused = run_flowplan("reject", "release#1", "--as", "mallory")
    assert refused.code == 1, str(refused)
    assert "mallory may not reject release#1" in refused.stderr
    assert "alice" in refused.stderr and "bob" in refused.stderr
    assert approvals(waiting) == []


def test_approve_of_a_run_that_does_not_exist_is_an_error(waiting, run_flowplan):
    missing = run_flowplan("approve", "release#9", "--as", "alice")
    assert missing.code == 1, str(missing)
    assert "release#9" in missing.stderr
    assert approvals(waiting) == []


def test_cancel_of_a_waiting_run_then_retry_waits_again(waiting, run_flowplan):
    canceled = run_flowplan("cancel", "release#1", "--as", "carol")
    assert canceled.code == 0, str(canceled)
    assert "release#1 is canceled" in canceled.stdout
    refused = run_flowplan("approve", "release#1", "--as", "alice")
    assert refused.code == 1, str(refused)
    assert "canceled" in refused.stderr
    assert approvals(waiting) == []
    retried = run_flowplan("retry", "release#1")
    assert retried.code == 4, str(retried)
    assert "flowplan approve release#1" in retried.stdout
    assert "[build/compile/hello]" not in retried.stdout
    assert run_flowplan("approve", "release#1", "--as", "alice").code == 0
    assert len(list(waiting.root.rglob("trace-build"))) == 1
    assert list(waiting.root.rglob("trace-build"))[0].read_text() == "built\n"
