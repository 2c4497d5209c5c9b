"""`flowplan serve` as a process, in the quickstart example (its `webhook "push"`: a git hook in
the app's repository, with a secret for signed deliveries): it prints where it listens and the
webhook's address; a real `git push` to the app's repository starts the pipeline at the pushed
commit through the installed hook, and so does a GitHub-signed delivery, as the pusher; the run
goes on to the release approval and succeeds once approved; a bad signature starts nothing;
SIGTERM stops the server cleanly, canceling what it drove."""

from __future__ import annotations

import time

import httpx

from runs_support import query, wait_for
from serve_support import Server, flowplan, git, push_delivery, quickstart_like

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
        assert f"{server.url}/hooks/push  [git, pipeline quickstart]" in server.stdout()
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


def test_a_real_git_push_to_the_quickstart_repository_runs_the_pipeline(tmp_path):
    directory = tmp_path / "quickstart"
    quickstart_like(directory)
    server = Server(directory, tmp_path)
    try:
        work = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(directory / ".flowplan" / "app.git"), str(work))
        (work / "NOTES").write_text("a change pushed to master\n")
        git(work, "add", "NOTES")
        git(work, "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.invalid",
            "commit", "-q", "-m", "notes")
        pushed = git(work, "rev-parse", "HEAD")
        result = git_push(work)
        assert "flowplan: quickstart#1" in result.stderr       # what the hook tells the pusher
        wait_for(lambda: run_row(directory, "quickstart", 1)[0] == "waiting", timeout=120,
                 what="quickstart#1 waits for the release approval")
        _status, user, trigger, commit, branch, _error = run_row(directory, "quickstart", 1)
        assert (user, trigger, commit, branch) == ("git:Ada Lovelace", "webhook", pushed,
                                                   "master")

        git(work, "checkout", "-q", "-b", "topic")                # a branch the hook ignores
        result = git_push(work, "topic")
        assert "nothing started: branch 'topic' matches none of master" in result.stderr
        body, headers = push_delivery(pushed, delivery="mirror-1")    # signed, same commit
        answer = httpx.post(f"{server.url}/hooks/push", content=body, headers=headers)
        assert answer.json() == {"status": "accepted", "run": "quickstart#2"}
        wait_for(lambda: run_row(directory, "quickstart", 2)[0] == "waiting", timeout=120)
        assert run_row(directory, "quickstart", 2)[1:4] == ("github:octocat", "webhook", pushed)
        assert query(_Store(directory), "SELECT COUNT(*) FROM runs") == [(2,)]
        outcomes = query(_Store(directory), "SELECT sender, outcome FROM deliveries ORDER BY id")
        assert outcomes == [("git", "accepted"), ("git", "ignored"), ("github", "accepted")]
        assert server.terminate() == 0
    finally:
        server.kill()


def git_push(work, branch: str = "master"):
    import subprocess

    return subprocess.run(["git", "push", "-q", "origin", branch], cwd=work, check=True,
                          capture_output=True, text=True, timeout=60)
