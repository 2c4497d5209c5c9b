"""Fixtures for executor tests: a real SQLite store in a temporary config directory, a run
service with short grace and poll times, builders for pipeline definitions, and inline HCL."""

from __future__ import annotations

import os

import textwrap
from pathlib import Path

import pytest

from flowplan.config.loader import load_config
from flowplan.executor.service import RunService
from flowplan.executor.settings import ExecutorSettings
from flowplan.store import Store


def command(run: str, **attributes) -> dict:
    return {"type": "command", "run": run, "shell": "bash -e", "env": {}, "timeout": None,
            "outputs": [], **attributes}


def approval(**attributes) -> dict:
    return {"type": "manual_approval", "approvers": [], "roles": [], "method": "anyone",
            "timeout": None, "description": "", **attributes}


def task(*steps: tuple[str, dict], **attributes) -> dict:
    body = {"needs": [], "timeout": None, "retries": 0, "allow_failure": False, "when": None}
    body.update(attributes)
    body["steps"] = {name: {"index": i, **step} for i, (name, step) in enumerate(steps)}
    return body


def stage(tasks: dict[str, dict], trigger: str = "auto") -> dict:
    return {"trigger": trigger, "tasks": tasks}


def pipeline(stages: dict[str, dict], **attributes) -> dict:
    body = {"version": 2, "description": "", "source": None, "variables": {}, "parallelism": 4,
            "caches": {}}
    body.update(attributes)
    body["stages"] = {name: {"index": i, **s} for i, (name, s) in enumerate(stages.items())}
    return body


def one_step(script: str, **task_attributes) -> dict:
    return pipeline({"main": stage({"t": task(("s", command(script)), **task_attributes)})})


class Recorder:
    """An on_event sink that keeps the events."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def make_service(directory: Path, **overrides) -> RunService:
    settings = dict(kill_grace=0.5, poll_interval=0.05, log_flush_interval=0.05)
    settings.update(overrides)
    store = Store.open("sqlite:///.flowplan/flowplan.db", base_dir=directory)
    return RunService(store, ExecutorSettings.from_config(directory, {}, **settings))


@pytest.fixture
def config_dir(tmp_path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    return directory


@pytest.fixture
def service(config_dir):
    made = make_service(config_dir)
    yield made
    made.store.close()


def load_pipeline(directory: Path, hcl: str, name: str, variables: dict | None = None):
    """(definition, variables, sensitive names) of pipeline `name` in inline HCL."""
    (directory / "main.hcl").write_text(textwrap.dedent(hcl))
    config = load_config(directory, variables or {}, environ={})
    assert not config.diagnostics.has_errors, config.diagnostics
    definition = config.resources[f"pipeline.{name}"].attributes
    values = {n: v.value for n, v in config.variables.items()}
    sensitive = {n for n, v in config.variables.items() if v.sensitive}
    return definition, values, sensitive


def steps_of(service: RunService, ref: str) -> dict[tuple[str, str], object]:
    run = service.get(ref)
    return {(s.task, s.step): s for s in service.store.step_runs(run.id, latest=True)}


def tasks_of(service: RunService, ref: str) -> dict[str, object]:
    run = service.get(ref)
    return {t.task: t for t in service.store.task_runs(run.id)}


def log_text(service: RunService, ref: str, **filters) -> list[str]:
    return [line.text for line in service.logs(ref, **filters)]


def alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
