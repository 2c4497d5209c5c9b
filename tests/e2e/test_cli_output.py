"""What the CLI prints regardless of the command: colours only on a terminal without NO_COLOR,
plain text when piped (a plan as text, `--json` or `--markdown`, whose renderings are compared
with golden files in tests/unit/engine/test_engine_golden.py), and a start-up that imports no
cloud SDK, Kubernetes client, web framework, database layer or diff engine.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from cli_workspace import ANSI, flowplan_command

CONFIG = """
    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }
"""

BROKEN = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = 42
      colour      = "blue"
    }
"""


def run_on_terminal(workspace, *args: str, no_color: bool) -> bytes:
    """Run flowplan with stdout and stderr on a pseudo-terminal; everything it wrote."""
    env = workspace.base_env()
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    process = subprocess.Popen(workspace.command(*args), env=env, stdin=subprocess.DEVNULL,
                               stdout=slave, stderr=slave, cwd=workspace.root)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:            # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) in (0, 1)
    return b"".join(chunks)


def test_piped_output_has_no_ansi_escapes_even_without_no_color(workspace, run_flowplan):
    workspace.write(CONFIG)
    plain = {"NO_COLOR": None, "TERM": "xterm-256color"}
    results = [run_flowplan(*args, env=plain) for args in
               (("validate",), ("plan",), ("plan", "--json"), ("plan", "--markdown"),
                ("apply", "--auto-approve"), ("show",), ("state", "list"))]
    workspace.write(BROKEN)
    results.append(run_flowplan("validate", env=plain))
    for result in results:
        assert not ANSI.search(result.stdout.encode()), str(result)
        assert not ANSI.search(result.stderr.encode()), str(result)
    assert results[-1].code == 1

    # --json and --markdown print the plan in that form, on stdout, without progress lines.
    as_json, markdown = results[2], results[3]
    document = json.loads(as_json.stdout)
    assert sorted(c["address"] for c in document["resource_changes"]) == [
        "acr_namespace.team", "pipeline.app"]
    assert markdown.stdout.startswith("**flowplan plan**: 2 to add, 0 to change, 0 to destroy.")
    assert as_json.stderr == "" and markdown.stderr == ""


def test_terminal_output_is_coloured_unless_no_color_is_set(workspace):
    workspace.write(CONFIG)
    coloured = run_on_terminal(workspace, "plan", no_color=False)
    assert ANSI.search(coloured), coloured.decode(errors="replace")
    stripped = re.sub(rb"\x1b\[[0-9;]*m", b"", coloured)
    assert b"Plan: 2 to add, 0 to change, 0 to destroy." in stripped

    plain = run_on_terminal(workspace, "plan", no_color=True)
    assert b"Plan: 2 to add, 0 to change, 0 to destroy." in plain
    assert not ANSI.search(plain), plain.decode(errors="replace")

    workspace.write(BROKEN)
    diagnostics = run_on_terminal(workspace, "validate", no_color=True)
    assert b"error" in diagnostics and not ANSI.search(diagnostics)


def test_diagnostics_are_all_reported_with_file_line_and_column(workspace, run_flowplan):
    workspace.write(BROKEN)
    result = run_flowplan("validate")
    assert result.code == 1
    assert re.search(r"main\.hcl:3:\d+: error: ", result.stderr), result.stderr
    assert re.search(r"main\.hcl:4:\d+: error: Unsupported argument", result.stderr)
    assert "2 errors" in result.stderr
    assert result.stdout == ""


FORBIDDEN_AT_START_UP = ("alibabacloud", "aliyunsdk", "kubernetes", "fastapi", "starlette",
                         "uvicorn", "sqlalchemy", "deepdiff")


def imported_modules(importtime_stderr: str) -> list[str]:
    modules = []
    for line in importtime_stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|(\s*)(\S+)", line)
        if match:
            modules.append(match.group(2))
    return modules


def test_importing_the_cli_imports_no_sdk_web_framework_database_or_diff_engine():
    completed = subprocess.run([sys.executable, "-X", "importtime", "-c", "import flowplan.cli"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    modules = imported_modules(completed.stderr)
    assert "flowplan.cli" in modules and "typer" in modules, "importtime output not understood"
    offending = sorted({m for m in modules if m.split(".")[0].startswith(FORBIDDEN_AT_START_UP)})
    assert offending == []


def test_validate_of_a_tiny_config_imports_no_cloud_sdk_kubernetes_or_web_framework(workspace):
    workspace.write(CONFIG.split("    acr_namespace")[0])      # the pipeline only
    env = {k: v for k, v in workspace.base_env().items() if k != "FLOWPLAN_PROVIDER_PLUGINS"}
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "flowplan.cli",
                                "-C", str(workspace.config), "validate"],
                               env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Success! The configuration is valid (1 resource)." in completed.stdout
    modules = imported_modules(completed.stderr)
    offending = sorted({m for m in modules if m.split(".")[0].startswith(
        ("alibabacloud", "aliyunsdk", "kubernetes", "fastapi", "starlette", "uvicorn"))})
    assert offending == []


def test_help_exits_0_and_lists_the_commands():
    completed = subprocess.run([*flowplan_command(), "--help"], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    for command in ("validate", "plan", "apply", "destroy", "show", "state", "force-unlock",
                    "graph"):
        assert command in completed.stdout
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("args", [("plan", "--help"), ("apply", "--help"), ("state", "--help")])
def test_subcommand_help_exits_0(args):
    completed = subprocess.run([*flowplan_command(), *args], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    assert "Usage" in completed.stdout
