"""examples/multi-machine/run.sh, as its README says to run it: PostgreSQL, Redis, `flowplan
serve` and two `flowplan worker` processes (queues `build` and `deploy`, each in a directory of
its own) on 127.0.0.1; apply; the pipeline started through the REST API succeeds with its build
task on the build worker and its install task on the deploy worker, the artifact passed between
them; then everything it started is stopped, and no database password was printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from postgres import postgres_problem
from redis_server import redis_problem

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "multi-machine"

pytestmark = [
    pytest.mark.skipif(postgres_problem() is not None, reason=postgres_problem() or ""),
    pytest.mark.skipif(redis_problem() is not None, reason=redis_problem() or ""),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
    pytest.mark.timeout(600),
]


@pytest.fixture
def example():
    # Outside pytest's basetemp (reset to 0700 by every pytest session): the postgres user
    # must reach the cluster run.sh makes under the example's .flowplan/.
    root = Path(tempfile.mkdtemp(prefix="flowplan-multi-machine-"))
    copy = root / "multi-machine"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".flowplan"))
    yield copy
    subprocess.run(["./run.sh", "stop"], cwd=copy, env=environment(), capture_output=True,
                   timeout=120)
    shutil.rmtree(root, ignore_errors=True)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWPLAN_", "FP_VAR_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FLOWPLAN_CHECKOUT"] = str(REPO)
    env["NO_COLOR"] = "1"
    return env


def test_run_sh_runs_the_pipeline_across_two_worker_queues_and_stops_everything(example):
    completed = subprocess.run(["./run.sh"], cwd=example, env=environment(),
                               capture_output=True, text=True, timeout=540)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "== release#1 succeeded" in output
    assert re.search(r"release#1\s+succeeded\s+trigger api\s+by release-bot", output), output

    cluster = example / ".flowplan" / "cluster"
    built = re.search(r"build/compile/compile \| hello from the build queue, built in (\S+)",
                      output)
    installed = re.search(r"deploy/install/install \| installed on the deploy queue, in "
                          r"(\S+): hello from the build queue", output)
    assert built and installed, output
    assert Path(built.group(1)).is_relative_to(cluster / "machine-build"), built.group(1)
    assert Path(installed.group(1)).is_relative_to(cluster / "machine-deploy"), installed.group(1)
    assert "deploy/install/fetch # unpacked 1 member of artifact hello" in output
    # No shared disk: the build machine uploaded the artifact to the server, the deploy
    # machine downloaded it into its own directory.
    server_copies = list((example / ".flowplan" / "artifacts").rglob("hello*"))
    assert server_copies, "the server holds the uploaded artifact"
    assert list((cluster / "machine-deploy" / ".flowplan" / "artifacts").rglob("hello*")), \
        "the deploy machine downloaded it into its own artifacts_dir"

    for queue in ("build", "deploy"):
        assert not (cluster / f"worker-{queue}.pid").exists()
    assert not (cluster / "serve.pid").exists() and not (cluster / "redis.pid").exists()
    assert not (cluster / "postgres" / "data" / "postmaster.pid").exists(), "PostgreSQL stopped"
    assert "stopped PostgreSQL" in output
    assert not re.search(r"flowplan:(?!\*\*\*)[^@\s]+@127\.0\.0\.1", output), \
        "a database password was printed"
    assert not (cluster / "auth.header").exists(), "the API token file is removed"
