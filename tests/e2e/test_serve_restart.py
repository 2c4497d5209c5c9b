"""A `flowplan serve` killed with SIGKILL while a run's step sleeps: the next `flowplan serve`
marks the run interrupted (and kills what is left of the step), and `flowplan resume` runs it
to the end; meanwhile the new server takes deliveries again."""

from __future__ import annotations

import os

import httpx

from runs_support import alive, query, wait_for
from serve_support import Server, flowplan, push_delivery, quickstart_like

ONCE = """\
pipeline "once" {
  source = source.app
  stage "wait" {
    task "sleep" {
      step "sleep" {
        type = "command"
        run  = "if [ ! -f @MARKER@ ]; then touch @MARKER@; sleep 120; fi"
      }
    }
  }
}
"""


class _Store:
    def __init__(self, directory) -> None:
        self.store_path = directory / ".flowplan" / "flowplan.db"


def test_server_killed_mid_run_leaves_it_interrupted_and_resumable(tmp_path):
    directory = tmp_path / "quickstart"
    marker = tmp_path / "slept-once"
    head = quickstart_like(directory, pipelines=ONCE.replace("@MARKER@", str(marker)),
                           webhook_pipeline="once")
    store = _Store(directory)
    first = Server(directory, tmp_path, name="first")
    try:
        body, headers = push_delivery(head)
        answer = httpx.post(f"{first.url}/hooks/push", content=body, headers=headers)
        assert answer.json() == {"status": "accepted", "run": "once#1"}
        wait_for(lambda: query(store, "SELECT pid FROM step_runs WHERE status = 'running' AND "
                                      "pid IS NOT NULL"), timeout=60, what="the step runs")
        [(step_pid,)] = query(store, "SELECT pid FROM step_runs WHERE status = 'running'")
        first.process.kill()                               # SIGKILL: nothing is recorded
        first.process.wait(timeout=10)
    finally:
        first.kill()
    assert query(store, "SELECT status FROM runs") == [("running",)]
    second = Server(directory, tmp_path, name="second")
    try:
        assert query(store, "SELECT status FROM runs") == [("interrupted",)]
        wait_for(lambda: not alive(step_pid), timeout=20, what="the orphaned step is killed")
        resumed = flowplan(directory, "resume", "once#1")
        assert "succeeded" in resumed.stdout + resumed.stderr
        assert query(store, "SELECT status FROM runs WHERE number = 1") == [("succeeded",)]
        body, headers = push_delivery(head)
        answer = httpx.post(f"{second.url}/hooks/push", content=body, headers=headers)
        assert answer.json() == {"status": "accepted", "run": "once#2"}
        wait_for(lambda: query(store, "SELECT status FROM runs WHERE number = 2")
                 == [("succeeded",)], timeout=60)
        assert second.terminate() == 0
    finally:
        second.kill()
        os.system(f"kill -9 {step_pid} 2>/dev/null")
