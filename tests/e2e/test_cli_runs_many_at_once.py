"""Sixty `flowplan run` processes started at once against one SQLite store: writers wait for
each other's lock (and opening a current store takes none), so every run starts, is recorded
with its own number and succeeds, and no process prints a traceback or `database is locked`.

The pipeline is one `true` step, so what is measured is flowplan's own work: about 1.2 CPU
seconds per process, nearly all of it Python starting up and importing (SQLAlchemy above all).
Measured on two cores: 40 s for the sixty when the cores were otherwise idle, about two minutes
when they were shared with other test suites. The timeout leaves room for that.
"""

from __future__ import annotations

import subprocess
import time

from cli_workspace import assert_ok
from runs_support import query

CONFIG = """
pipeline "tiny" {
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "true"
      }
    }
  }
}
"""

PROCESSES = 60


def test_sixty_concurrent_runs_are_all_recorded_numbered_and_succeed(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    outputs = [(workspace.root / f"run-{i}.out", workspace.root / f"run-{i}.err")
               for i in range(PROCESSES)]
    started = time.monotonic()
    processes = []
    for stdout_path, stderr_path in outputs:
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            processes.append(subprocess.Popen(
                workspace.command("run", "tiny"), env=workspace.base_env(),
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=workspace.root))
    try:
        codes = [process.wait(timeout=600) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    elapsed = time.monotonic() - started
    for code, (stdout_path, stderr_path) in zip(codes, outputs):
        stderr = stderr_path.read_text(errors="replace")
        assert "Traceback" not in stderr and "locked" not in stderr, stderr
        assert code == 0, stdout_path.read_text(errors="replace") + stderr
    rows = query(workspace, "select number, status from runs where pipeline = 'tiny' "
                            "order by number")
    assert rows == [(number, "succeeded") for number in range(1, PROCESSES + 1)]
    print(f"{PROCESSES} concurrent runs took {elapsed:.1f} s")
