"""`flowplan run` honours a pipeline's max_concurrent_runs as the server does: "reject_new"
refuses while another process's run is running, "cancel_oldest" cancels it, "queue" waits for
it to finish and says so."""

from __future__ import annotations

import time

from runs_support import Background, query, run_status, wait_for
from cli_workspace import write_and_apply

PIPELINE = """\
flowplan {
  store = "sqlite:///.flowplan/flowplan.db"
}

pipeline "ci" {
  max_concurrent_runs = 1
  on_limit            = "@ON_LIMIT@"
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "n=$FLOWPLAN_RUN_NUMBER; touch @GO@-$n.started; while [ ! -f @GO@-$n ]; do sleep 0.05; done"
      }
    }
  }
}
"""


def applied(workspace, on_limit: str) -> None:
    """The pipeline applied; run N's step waits for the file go-N under the workspace root."""
    write_and_apply(workspace, PIPELINE.replace("@ON_LIMIT@", on_limit)
                    .replace("@GO@", str(workspace.root / "go")))


def first_run_waiting_at_its_step(workspace):
    first = Background(workspace, "run", "ci", name="first")
    wait_for(lambda: (workspace.root / "go-1.started").exists(), timeout=60)
    return first


def test_reject_new_refuses_while_a_run_is_running(workspace, run_flowplan):
    applied(workspace, "reject_new")
    first = first_run_waiting_at_its_step(workspace)
    try:
        second = run_flowplan("run", "ci")
        assert second.code == 1
        assert 'ci has 1 running run (max_concurrent_runs = 1) and on_limit = "reject_new"' \
            in second.stderr
        assert query(workspace, "SELECT COUNT(*) FROM runs") == [(1,)]
        (workspace.root / "go-1").touch()
        assert first.wait().code == 0
    finally:
        first.stop()


def test_cancel_oldest_cancels_the_running_run(workspace, run_flowplan):
    applied(workspace, "cancel_oldest")
    first = first_run_waiting_at_its_step(workspace)
    try:
        (workspace.root / "go-2").touch()       # the second run passes its step at once
        second = run_flowplan("run", "ci")
        assert second.code == 0, second
        assert "ci#1 canceled" in second.stderr
        assert first.wait().code == 1
        assert run_status(workspace, "ci", 1) == "canceled"
    finally:
        first.stop()


def test_queue_waits_for_the_running_run_to_finish(workspace):
    applied(workspace, "queue")
    first = first_run_waiting_at_its_step(workspace)
    second = Background(workspace, "run", "ci", name="second")
    try:
        wait_for(lambda: "waiting for a slot" in second.stderr(), timeout=60)
        time.sleep(1)
        assert query(workspace, "SELECT COUNT(*) FROM runs") == [(1,)]
        (workspace.root / "go-1").touch()
        (workspace.root / "go-2").touch()
        assert first.wait().code == 0
        assert second.wait().code == 0
        assert run_status(workspace, "ci", 2) == "succeeded"
    finally:
        first.stop()
        second.stop()
