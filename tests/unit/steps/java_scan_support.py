"""What the java_code_scan tests share: writing Java files into a workspace, running the step
type in-process on a real StepContext (a real run layout for its report, its log lines
collected), and the executor tests' builders (tests/unit/executor/conftest.py, loaded by path:
a second module named `conftest` would shadow theirs)."""

from __future__ import annotations

import importlib.util
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path

from flowplan.executor.run.layout import RunLayout
from flowplan.executor.settings import ExecutorSettings, LogLimits
from flowplan.executor.step_process.logs import StepLog
from flowplan.executor.step_type import PreviousSuccess, RunInfo, StepContext, StepResult
from flowplan.steps.java_scan import JavaCodeScanStep, JavaCodeScanStepType

_spec = importlib.util.spec_from_file_location(
    "executor_builders", Path(__file__).resolve().parents[1] / "executor" / "conftest.py")
executor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(executor)

DOC = "/**\n * Doc.\n *\n * @author flowplan\n */\n"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


class Scan:
    """One in-process run of the step type: its result, log lines and report directory."""

    def __init__(self, result: StepResult, lines: list[str], layout: RunLayout) -> None:
        self.result = result
        self.lines = lines
        self.layout = layout

    @property
    def report(self) -> Path:
        artifact, = self.result.artifacts
        return artifact.path


def run_scan(tmp_path: Path, workspace: Path, previous: PreviousSuccess | None = None,
             cancel: threading.Event | None = None, deadline: float | None = None,
             **attributes) -> Scan:
    """Run java_code_scan over `workspace` with `attributes`, as task `t`, step `scan`."""
    settings = ExecutorSettings.from_config(tmp_path / "config", {})
    layout = RunLayout(settings, "app", 1)
    lines: list[str] = []
    log = StepLog(None, 0, 0, None, LogLimits(),
                  on_lines=lambda stream, first, at, said: lines.extend(said))
    config = JavaCodeScanStep(type="java_code_scan", **attributes)
    private = tmp_path / "private"
    private.mkdir(exist_ok=True)
    context = StepContext(
        run=RunInfo(1, "app", 1, "manual", None, None, None, None), stage="check", task="t",
        step="scan", attempt=1, step_run_id=1, config=config, attributes=config.model_dump(),
        workspace=workspace, environment={}, output_file=private / "out", private_dir=private,
        deadline=deadline, timeout_text="10m", cancel=cancel or threading.Event(),
        kill_grace=0.5, log=log, layout=layout, first_started_at=datetime.now(timezone.utc),
        previous_success=lambda: previous)
    result = JavaCodeScanStepType().run(context)
    return Scan(result, lines, layout)
