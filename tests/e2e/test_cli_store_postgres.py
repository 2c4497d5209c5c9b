"""`flowplan apply` and `flowplan run` with the store on a real PostgreSQL server: the run goes on
through a server restart in the middle of a step, nothing is written to a SQLite file, and the
database password appears in no output."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from postgres import postgres_for_tests
from runs_support import fill, make_repository

CONFIG = """
flowplan {
  store = env("FLOWPLAN_STORE", "sqlite:///.flowplan/flowplan.db")
}

source "app" {
  url    = "@REPO@"
  branch = "master"
}

pipeline "slow" {
  source = source.app
  stage "build" {
    task "compile" {
      step "wait" {
        type = "command"
        run  = "echo started; sleep 4; echo finished"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def postgres_server():
    with postgres_for_tests("flowplan-e2e-pg-") as server:
        yield server


def test_a_run_goes_on_through_a_postgresql_restart_and_no_output_shows_the_password(
        workspace, run_flowplan, tmp_path, postgres_server):
    url = postgres_server.create_database(f"e2e_{uuid.uuid4().hex[:12]}")
    env = {"FLOWPLAN_STORE": url.replace("postgresql+psycopg://", "postgresql://")}
    repo = make_repository(tmp_path / "repo")
    workspace.write(fill(CONFIG, REPO=repo))
    applied = run_flowplan("apply", "--auto-approve", env=env)
    assert applied.code == 0, str(applied)

    full_env = {**workspace.base_env(), **env}
    run = subprocess.Popen(workspace.command("run", "slow"), env=full_env, cwd=workspace.root,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:          # wait until the step's process is running
            shown = run_flowplan("runs", "show", "slow#1", env=env, traceback_ok=True)
            if "running" in shown.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        postgres_server.restart()
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stdout + stderr
    assert "[build/compile/wait] | finished" in stdout
    assert "==> slow#1 succeeded" in stdout
    listed = run_flowplan("runs", env=env)
    assert "slow#1" in listed.stdout and "succeeded" in listed.stdout
    assert not workspace.store_path.exists()
    for text in (applied.output, stdout, stderr, listed.output):
        assert postgres_server.password not in text
