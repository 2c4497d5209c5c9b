"""`flowplan retry` and `flowplan skip` end to end: a retry re-runs from the failed task and keeps
what succeeded (counted through side-effect files the steps append to), a retry of a run that
succeeded is refused, and `skip --task` continues a run past a failed task."""

from __future__ import annotations

import re

import pytest

from cli_workspace import assert_ok, write_and_apply
from runs_support import fill, parse_json

CONFIG = """
pipeline "flaky" {
  stage "one" {
    task "prepare" {
      step "mark" {
        type = "command"
        run  = "echo prepared >> @TRACE@/prepare"
      }
    }
    task "check" {
      needs = ["prepare"]
      step "probe" {
        type = "command"
        run  = "echo probing; echo probing >> @TRACE@/check; test -f @TRACE@/fixed || exit 3"
      }
    }
  }
  stage "two" {
    task "after" {
      step "mark" {
        type = "command"
        run  = "echo after >> @TRACE@/after"
      }
    }
  }
}

pipeline "lint" {
  stage "one" {
    task "build" {
      step "mark" {
        type = "command"
        run  = "echo built >> @TRACE@/build"
      }
    }
    task "lint" {
      needs = ["build"]
      step "style" {
        type = "command"
        run  = "echo lint >> @TRACE@/lint; echo style broken; exit 3"
      }
      step "more" {
        type = "command"
        run  = "echo more >> @TRACE@/lint-more"
      }
    }
  }
  stage "two" {
    task "after" {
      step "mark" {
        type = "command"
        run  = "echo after >> @TRACE@/after"
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


def count(trace, name: str) -> int:
    path = trace / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def task_statuses(run_flowplan, ref: str) -> dict[str, tuple[str, int]]:
    shown = parse_json(run_flowplan("runs", "show", ref, "--json"))
    return {t["record"]["task"]: (t["record"]["status"], t["record"]["attempt"])
            for s in shown["stages"] for t in s["tasks"]}


def test_retry_reruns_from_the_failed_task_keeping_what_succeeded(configured, run_flowplan,
                                                                  trace):
    failed = run_flowplan("run", "flaky")
    assert failed.code == 1, str(failed)
    assert (count(trace, "prepare"), count(trace, "check"), count(trace, "after")) == (1, 1, 0)

    still = run_flowplan("retry", "flaky#1")
    assert still.code == 1, str(still)
    assert (count(trace, "prepare"), count(trace, "check"), count(trace, "after")) == (1, 2, 0)

    (trace / "fixed").write_text("")
    retried = run_flowplan("retry", "flaky#1")
    assert retried.code == 0, str(retried)
    assert "[one/check/probe] succeeded" in retried.stdout
    assert "[one/prepare/mark]" not in retried.stdout
    assert re.search(r"^==> flaky#1 succeeded", retried.stdout, re.M)
    assert (count(trace, "prepare"), count(trace, "check"), count(trace, "after")) == (1, 3, 1)

    statuses = task_statuses(run_flowplan, "flaky#1")
    assert statuses["prepare"] == ("succeeded", 1)
    assert statuses["check"][0] == "succeeded" and statuses["check"][1] >= 2
    assert statuses["after"][0] == "succeeded"
    # retrying continues the same run: no new run number
    runs = parse_json(run_flowplan("runs", "flaky", "--json"))
    assert [(r["number"], r["status"]) for r in runs] == [(1, "succeeded")]

    # the logs keep every attempt of the retried task
    logs = assert_ok(run_flowplan("logs", "flaky#1", "--task", "check")).stdout
    probes = [line for line in logs.splitlines() if line.endswith("| probing")]
    assert len(probes) == 3, logs
    assert "(attempt 2)" in probes[1] and "(attempt 3)" in probes[2], logs


def test_retry_of_a_run_that_succeeded_is_refused(configured, run_flowplan, trace):
    (trace / "fixed").write_text("")
    assert run_flowplan("run", "flaky").code == 0
    refused = run_flowplan("retry", "flaky#1")
    assert refused.code == 1, str(refused)
    assert "flaky#1 succeeded: there is nothing to retry" in refused.stderr
    assert (count(trace, "prepare"), count(trace, "check"), count(trace, "after")) == (1, 1, 1)


def test_retry_of_one_named_task(configured, run_flowplan, trace):
    assert run_flowplan("run", "flaky").code == 1
    (trace / "fixed").write_text("")
    refused = run_flowplan("retry", "flaky#1", "--task", "prepare")
    assert refused.code == 1, str(refused)
    assert "prepare" in refused.stderr
    retried = run_flowplan("retry", "flaky#1", "--task", "one/check")
    assert retried.code == 0, str(retried)
    assert (count(trace, "prepare"), count(trace, "check"), count(trace, "after")) == (1, 2, 1)


def test_skip_a_failed_task_continues_past_it(configured, run_flowplan, trace):
    failed = run_flowplan("run", "lint")
    assert failed.code == 1, str(failed)
    assert (count(trace, "build"), count(trace, "lint"), count(trace, "after")) == (1, 1, 0)

    skipped = run_flowplan("skip", "lint#1", "--task", "lint", "--as", "carol")
    assert skipped.code == 0, str(skipped)
    assert "[two/after/mark]" in skipped.stdout
    assert re.search(r"^==> lint#1 succeeded", skipped.stdout, re.M), skipped.stdout
    assert (count(trace, "build"), count(trace, "lint"), count(trace, "after")) == (1, 1, 1)
    assert count(trace, "lint-more") == 0

    statuses = task_statuses(run_flowplan, "lint#1")
    assert statuses["build"][0] == "succeeded"
    assert statuses["lint"][0] == "skipped"
    assert statuses["after"][0] == "succeeded"
    tree = assert_ok(run_flowplan("runs", "show", "lint#1")).stdout
    assert re.search(r"^  \S lint  skipped .*skipped: user.*carol", tree, re.M), tree


def test_skip_of_a_task_that_succeeded_is_refused(configured, run_flowplan, trace):
    assert run_flowplan("run", "lint").code == 1
    refused = run_flowplan("skip", "lint#1", "--task", "build")
    assert refused.code == 1, str(refused)
    assert "build" in refused.stderr and "succeeded" in refused.stderr
    unknown = run_flowplan("skip", "lint#1", "--task", "nope")
    assert unknown.code == 1, str(unknown)
    assert "one/lint" in unknown.stderr
    assert count(trace, "after") == 0
    assert parse_json(run_flowplan("runs", "--json"))[0]["status"] == "failed"
