"""Fixtures for driving the real `flowplan` command in a subprocess against a temporary config.

`workspace` is a fresh config directory plus a recorder directory outside it (see
tests/support/cli_workspace.py); `run_flowplan(*args, env=..., input=...)` runs
`flowplan -C <config> ARGS` with the recorder provider serving the alicloud and github resources,
and returns the exit code and both output streams, failing on any Python traceback unless told
`traceback_ok=True`. Progress lines go to stderr when output is piped, plans and summaries to
stdout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from cli_workspace import Result, Workspace  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    config = tmp_path / "config"
    recorder = tmp_path / "recorder"
    config.mkdir()
    recorder.mkdir()
    return Workspace(tmp_path, config, recorder)


@pytest.fixture
def run_flowplan(workspace: Workspace):
    """run_flowplan(*args, env=None, input=None, traceback_ok=False, timeout=60) -> Result."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            traceback_ok: bool = False, timeout: float = 60) -> Result:
        full_env = workspace.base_env()
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        completed = subprocess.run(workspace.command(*args), env=full_env,
                                   input=input if input is not None else "",
                                   capture_output=True, text=True, timeout=timeout,
                                   cwd=workspace.root)
        result = Result(completed.returncode, completed.stdout, completed.stderr, args)
        if not traceback_ok:
            assert "Traceback" not in completed.stderr, str(result)
        return result

    return run
