"""`flowplan serve` as a process, in a config made like the quickstart: it prints where it
listens and the webhook's address, a GitHub-signed push starts the pipeline at the pushed commit
as the pusher, the run goes on to the release approval and succeeds once approved; a bad
signature starts nothing; SIGTERM stops the server cleanly, canceling what it drove."""

from __future__ import annotations

import time

import httpx

from runs_support import query, wait_for
from serve_support import Server, flowplan, push_delivery, quickstart_like

SLEEPER = """\
pipeline "slow" {
  source = source.app
  stage "wait" {
    task "sleep" {
      step "sleep" {
        type = "command"
        run  = "echo started > ../../started.txt; sleep 120"
      }
    }
  }
}
"""


def run_row(directory, pipeline: str, number: int):
    rows = query(_Store(directory), "SELECT status, user, trigger, \"commit\", branch, error "
                 "FROM runs WHERE pipeline = ? AND number = ?", pipeline, number)
    return rows[0] if rows else None


class _Store:
    """Enough of a cli_workspace.Workspace for runs_support.query."""

    def __init__(self, directory) -> None:
        self.store_path = directory / ".flowplan" / "flowplan.db"


def test_signed_push_runs_the_quickstart_pipeline_to_success(tmp_path):
    directory = tmp_path / "quickstart"
    head = quickstart_like(directory)
    server = Server(directory, tmp_path)
    try:
        assert f"{server.url}/hooks/push  [github, pipeline quickstart]" in server.stdout()
        assert f"{server.url}/api/v1" in server.stdout()
        body, headers = push_delivery(head, delivery="e2e-1")
        bad = httpx.post(f"{server.url}/hooks/push", content=body,
                         headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert bad.status_code == 401
        answer = httpx.post(f"{server.url}/hooks/push", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (202, {"status": "accepted",
                                                             "run": "quickstart#1"})
        again = httpx.post(f"{server.url}/hooks/push", content=body, headers=headers)
        assert again.json() == {"status": "duplicate", "run": "quickstart#1"}
        wait_for(lambda: run_row(directory, "quickstart", 1)[0] == "waiting", timeout=120,
                 what="quickstart#1 waits for the release approval")
        status, user, trigger, commit, branch, _error = run_row(directory, "quickstart", 1)
        assert (user, trigger, commit, branch) == ("github:octocat", "webhook", head, "master")
        approved = flowplan(directory, "approve", "quickstart#1", "--as", "release-manager")
        assert "succeeded" in approved.stdout + approved.stderr
        assert run_row(directory, "quickstart", 1)[0] == "succeeded"
        assert query(_Store(directory), "SELECT COUNT(*) FROM runs") == [(1,)]
        assert server.terminate() == 0
    finally:
        server.kill()


def test_sigterm_stops_the_server_and_cancels_the_run_it_drives(tmp_path):
    directory = tmp_path / "quickstart"
    head = quickstart_like(directory, pipelines=SLEEPER, webhook_pipeline="slow")
    server = Server(directory, tmp_path)
    try:
        body, headers = push_delivery(head)
        answer = httpx.post(f"{server.url}/hooks/push", content=body, headers=headers)
        assert answer.json()["run"] == "slow#1"
        wait_for(lambda: query(_Store(directory), "SELECT COUNT(*) FROM step_runs WHERE "
                               "status = 'running'") == [(1,)], timeout=60)
        time.sleep(0.5)
        began = time.monotonic()
        assert server.terminate() == 0
        assert time.monotonic() - began < 20
        assert "flowplan serve: stopped" in server.stdout()
        status, *_rest, error = run_row(directory, "slow", 1)
        assert (status, error) == ("canceled", "canceled: the server stopped")
    finally:
        server.kill()
