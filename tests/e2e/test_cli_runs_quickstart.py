"""The quickstart example end to end: a copy of examples/quickstart (without any .flowplan/ a
previous run left in the source tree) run by its own run.sh, with `flowplan` on PATH, as the
README says. It must exit 0 having tested, packaged, waited for the approval, been approved and
deployed, with the deploy token masked as *** and never written in plaintext under .flowplan/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from cli_workspace import REPO

EXAMPLE = REPO / "examples" / "quickstart"
TOKEN = "quickstart-not-a-real-token"


def quickstart_env() -> dict[str, str]:
    """This environment without flowplan settings, with the `flowplan` in use first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FP_VAR_", "FLOWPLAN_"))}
    flowplan = shutil.which("flowplan")
    assert flowplan, "the quickstart needs the flowplan command on PATH (pip install -e .)"
    env["PATH"] = os.pathsep.join([str(Path(flowplan).parent), env.get("PATH", "")])
    env["NO_COLOR"] = "1"
    return env


def test_quickstart_run_sh_runs_the_pipeline_end_to_end(tmp_path):
    example = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".flowplan"))
    completed = subprocess.run(["./run.sh"], cwd=example, env=quickstart_env(),
                               capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Traceback" not in output

    # it stopped at the approval with exit code 4 and the command to continue, then approved
    assert "==> quickstart#1 is waiting for a person:" in output
    assert "flowplan approve quickstart#1 --as release-manager" in output
    assert re.search(r"^\[release/approval/gate\] # approved by \S+ as release-manager$",
                     output, re.M), output
    assert re.search(r"^\[test/unit/test\] \| 1 passed, 0 failed$", output, re.M), output
    assert re.search(r"^==> quickstart#1 succeeded", output, re.M), output

    # the deploy log, as `flowplan logs ... --task deploy` printed it, masks the token
    deploy_lines = [line for line in completed.stdout.splitlines()
                    if re.match(r"\d\d:\d\d:\d\d\.\d{3} deploy/deploy/deploy \| ", line)]
    assert deploy_lines, output
    assert deploy_lines[-1].endswith("| deployed hello to dev using token ***")
    assert TOKEN not in output

    runs = re.search(r"^RUN\s+STATUS.*\n(quickstart#1\s+succeeded\s+manual\s+[0-9a-f]{7}\s.*)$",
                     completed.stdout, re.M)
    assert runs, completed.stdout
    assert (example / ".flowplan" / "deployed" / "dev" / "app.sh").exists()
    assert "==> deployed: app.sh" in completed.stdout

    # nothing under .flowplan/ holds the token (the deploy script writes only a copy of app.sh)
    for path in (example / ".flowplan").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"
