"""Fixtures for the server's tests: a config directory applied in-process (pipelines into a real
SQLite store, webhooks through tests/support/hook_provider.py standing in for the github and git
providers), a run service with short poll and grace times, and a wait helper."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

from flowplan import engine
from flowplan.providers import PLUGIN_ENVIRONMENT

SUPPORT = Path(__file__).resolve().parents[2] / "support"
HOOK_PLUGINS = "github=hook_provider:GithubHooks,git=hook_provider:GitHooks"
SETTINGS = """\
flowplan {
  state {
    path = ".flowplan/state.json"
  }
  store = "sqlite:///.flowplan/flowplan.db"
  server {
    host = "127.0.0.1"
    port = 8080
  }
}
"""


@pytest.fixture(autouse=True)
def hook_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))
    monkeypatch.setenv(PLUGIN_ENVIRONMENT, HOOK_PLUGINS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH", "")])))


def apply_config(directory: Path, hcl: str, environ: dict[str, str] | None = None) -> None:
    """Write `hcl` (after the settings) as main.hcl and apply it."""
    (directory / "main.hcl").write_text(SETTINGS + textwrap.dedent(hcl), encoding="utf-8")
    workspace = engine.load(directory, environ=dict(environ or {}))
    engine.apply(workspace)


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[[str], Path]:
    """workspace(HCL) -> the applied config directory."""
    directory = tmp_path / "config"
    directory.mkdir()

    def make(hcl: str, environ: dict[str, str] | None = None) -> Path:
        apply_config(directory, hcl, environ)
        return directory

    return make


def quick(service):
    """The service with short poll and kill grace times, for tests that cancel."""
    import dataclasses

    service.settings = dataclasses.replace(service.settings, poll_interval=0.05, kill_grace=2.0)
    return service


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}")


def step(name: str, run: str) -> str:
    return f'      step "{name}" {{\n        type = "command"\n        run  = "{run}"\n      }}\n'


def pipeline(name: str, run: str = "true", extra: str = "") -> str:
    """A pipeline of one stage, one task, one command step."""
    return (f'pipeline "{name}" {{\n{extra}\n  stage "s" {{\n    task "t" {{\n'
            + step("x", run) + "    }\n  }\n}\n")
