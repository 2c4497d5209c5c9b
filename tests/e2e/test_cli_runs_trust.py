"""What a step can reach, end to end through `flowplan run`: the operator's key, found in the
driving process's environment, is masked in the log; a key file (FLOWPLAN_SECRET_KEY_FILE) opens
store secrets; with `run_as` (as root) steps run as that user and cannot read the store, and a
way to the workspaces that user cannot pass is refused before the run starts.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from runs_support import fill, parse_json_lines

KEY = "e2e-operator-key-31-characters"     # its base64 ends in a partial group
STEP_USER = "flowplan-step"

PEEK = r"""
pipeline "peek" {
  stage "s" {
    task "t" {
      step "environ" {
        type = "command"
        run  = <<-EOT
          pid=$PPID
          while [ "$pid" -gt 1 ]; do
            tr '\0' '\n' < /proc/$pid/environ | grep '^FLOWPLAN_SECRET_KEY' | sed "s/^/$pid: /" || true
            pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
          done
          echo "token is $TOKEN"
        EOT
        env = {
          TOKEN = var.token
        }
      }
    }
  }
}

variable "token" {
  sensitive = true
}
"""


def lines_of(run_flowplan, ref: str) -> list[str]:
    return [record["text"] for record in parse_json_lines(run_flowplan("logs", ref, "--json"))]


def test_the_key_in_the_drivers_environment_is_masked_and_a_key_file_opens_secrets(
        workspace, run_flowplan, tmp_path):
    workspace.write(PEEK)
    key_file = tmp_path / "secret.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    with_file = {"FLOWPLAN_SECRET_KEY_FILE": str(key_file), "FLOWPLAN_SECRET_KEY": None}
    stored = run_flowplan("secret", "set", "token", input="tok-3f9a0c\n", env=with_file)
    assert stored.code == 0, str(stored)

    result = run_flowplan("run", "peek", "--from-config", env={"FLOWPLAN_SECRET_KEY": KEY,
                                              "FLOWPLAN_SECRET_KEY_FILE": None})
    assert result.code == 0, str(result)
    lines = lines_of(run_flowplan, "peek#1")
    found = [line for line in lines if "FLOWPLAN_SECRET_KEY=" in line]
    assert found and all(line.endswith("FLOWPLAN_SECRET_KEY=***") for line in found), lines
    assert "token is ***" in lines
    assert KEY not in result.output and not any(KEY in line for line in lines)

    result = run_flowplan("run", "peek", "--from-config", env=with_file)
    assert result.code == 0, str(result)
    lines = lines_of(run_flowplan, "peek#2")
    found = [line for line in lines if "FLOWPLAN_SECRET_KEY_FILE=" in line]
    assert found and all(line.endswith(f"FLOWPLAN_SECRET_KEY_FILE={key_file}") for line in found)
    assert "token is ***" in lines                 # the key in the file opened the store secret

    open_to_all = tmp_path / "open.key"
    shutil.copy(key_file, open_to_all)
    open_to_all.chmod(0o644)
    refused = run_flowplan("run", "peek", "--from-config",
                           env={"FLOWPLAN_SECRET_KEY_FILE": str(open_to_all),
                                "FLOWPLAN_SECRET_KEY": None})
    assert refused.code == 1
    assert (f"FLOWPLAN_SECRET_KEY_FILE names {open_to_all}, which group or others may read or "
            f"write (mode 0644): make it readable by flowplan's user only, "
            f"`chmod 600 {open_to_all}`") in refused.stderr


RUN_AS = r"""
flowplan {
  run_as        = "@USER@"
  workspace_dir = "@WORKSPACES@"
}

pipeline "who" {
  stage "s" {
    task "t" {
      step "id" {
        type = "command"
        run  = "id -un; echo $HOME; cat @STORE@ 2>&1 | sed 's/.*: //'"
      }
    }
  }
}
"""


@pytest.fixture
def step_account():
    if os.geteuid() != 0:
        pytest.skip("run_as needs root: the test creates the system user flowplan-step")
    try:
        return pwd.getpwnam(STEP_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", STEP_USER],
                              capture_output=True, text=True)
        assert made.returncode in (0, 9), made.stderr
        return pwd.getpwnam(STEP_USER)


def test_run_as_runs_steps_as_that_user_and_refuses_a_closed_way(workspace, run_flowplan,
                                                                 step_account):
    store = workspace.store_path
    workspaces = Path(tempfile.mkdtemp(prefix="flowplan-e2e-run-as-"))
    try:
        workspaces.chmod(0o711)
        workspace.write(fill(RUN_AS, user=STEP_USER, workspaces=workspaces / "ws", store=store))
        result = run_flowplan("run", "who", "--from-config")
        assert result.code == 0, str(result)
        assert lines_of(run_flowplan, "who#1") == [STEP_USER, step_account.pw_dir,
                                                   "Permission denied"]
    finally:
        shutil.rmtree(workspaces, ignore_errors=True)

    # the config is under pytest's tmp_path, in a directory others may not pass through
    workspace.write(fill(RUN_AS, user=STEP_USER, workspaces=".flowplan/workspaces", store=store))
    refused = run_flowplan("run", "who", "--from-config")
    assert refused.code == 1
    assert f'run_as = "{STEP_USER}": {STEP_USER} cannot pass through ' in refused.stderr
    assert "who#2" not in refused.output
