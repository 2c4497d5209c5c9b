"""Pipeline definitions and a throwaway store for the benchmarks (not a benchmark itself)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flowplan.executor.service import RunService
from flowplan.executor.settings import ExecutorSettings
from flowplan.store import Store


def command(run: str, index: int) -> dict:
    return {"index": index, "type": "command", "run": run, "shell": "bash -e", "env": {},
            "timeout": None, "outputs": []}


def task(steps: dict, needs: list[str] | None = None) -> dict:
    return {"needs": needs or [], "timeout": None, "retries": 0, "allow_failure": False,
            "when": None, "steps": steps}


def one_task(step_count: int, script: str = "true") -> dict:
    steps = {f"s{i}": command(script, i) for i in range(step_count)}
    return {"version": 1, "parallelism": 4,
            "stages": {"main": {"index": 0, "trigger": "auto", "tasks": {"t": task(steps)}}}}


def parallel(task_count: int, script: str) -> dict:
    tasks = {f"t{i}": task({"s": command(script, 0)}) for i in range(task_count)}
    return {"version": 1, "parallelism": task_count,
            "stages": {"main": {"index": 0, "trigger": "auto", "tasks": tasks}}}


def service(directory: Path | None = None, run_as: str | None = None) -> RunService:
    base = Path(directory or tempfile.mkdtemp(prefix="flowplan-bench-"))
    if run_as:
        base.chmod(0o711)        # the step user passes through it to the workspaces
    store = Store.open("sqlite:///.flowplan/flowplan.db", base_dir=base)
    return RunService(store, ExecutorSettings.from_config(base, {"parallelism": 64,
                                                                 "run_as": run_as}))
