"""Where a run's files go, and the check that none goes anywhere else.

    <workspace_dir>/<pipeline>/<number>/<stage>/<task>     a task's workspace
    <workspace_dir>/<pipeline>/<number>/.source            the run's checkout of its source
    <artifacts_dir>/<pipeline>/<number>/<name>.tgz         an archive step's artifact
    <artifacts_dir>/<pipeline>/<number>/<file name>        a report a step keeps (SARIF, JUnit)
    <cache_dir>/<pipeline>/<cache name>/<key digest>.tgz   a saved cache

for team `default`; another team's runs (which number from 1 too) have the same layout under
`<dir>/.teams/<team>/` of each of the three directories.

Names come from the config (block labels) and paths from step attributes: `safe_name` refuses a
name that is not one plain path component, and `inside` refuses a path that resolves (symlinks
included) outside its root. Both raise PathEscape.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flowplan.config.pipeline import unusable_file_name
from flowplan.executor.errors import PathEscape
from flowplan.executor.settings import ExecutorSettings

SOURCE_DIR = ".source"


def safe_name(name: str, what: str) -> str:
    """`name` if it can be one directory or file name; PathEscape otherwise."""
    problem = unusable_file_name(name) if isinstance(name, str) else "a name must be text"
    if problem is not None:
        raise PathEscape(f"{what} {name[:60]!r} cannot be used as a file name: {problem}")
    return name


def inside(root: Path, relative: str | os.PathLike[str], what: str) -> Path:
    """`root / relative`, resolved; PathEscape when it is not `root` or below it."""
    text = os.fspath(relative)
    if "\0" in text:
        raise PathEscape(f"{what} {text!r} holds a NUL byte")
    if Path(text).is_absolute() or text.startswith("~"):
        raise PathEscape(f"{what} {text!r} must be relative to {root}")
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / text))
    if target != real_root and real_root not in target.parents:
        raise PathEscape(f"{what} {text!r} escapes {root}")
    return target


class RunLayout:
    """The directories of one run."""

    def __init__(self, settings: ExecutorSettings, pipeline: str, number: int,
                 team: str = "default") -> None:
        self.settings = settings
        self.pipeline = safe_name(pipeline, "pipeline name")
        self.number = number
        self.team = safe_name(team, "team name")
        self.run_dir = self._of(settings.workspace_dir) / self.pipeline / str(number)

    def _of(self, root: Path) -> Path:
        """`root` for team default, `root/.teams/TEAM` for another team."""
        return root if self.team == "default" else root / ".teams" / self.team

    @property
    def source_dir(self) -> Path:
        return self.run_dir / SOURCE_DIR

    def task_workspace(self, stage: str, task: str) -> Path:
        return self.run_dir / safe_name(stage, "stage name") / safe_name(task, "task name")

    def artifact_path(self, name: str) -> Path:
        return (self._of(self.settings.artifacts_dir) / self.pipeline / str(self.number)
                / f"{safe_name(name, 'artifact name')}.tgz")

    def artifact_file(self, file_name: str) -> Path:
        """Where a step keeps a report file of the run (`<task>.<step>.sarif`, ...)."""
        return (self._of(self.settings.artifacts_dir) / self.pipeline / str(self.number)
                / safe_name(file_name, "artifact file name"))

    def cache_path(self, cache: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return (self._of(self.settings.cache_dir) / self.pipeline / safe_name(cache, "cache name")
                / f"{digest}.tgz")
