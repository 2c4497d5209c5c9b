"""Keeping a step's report files (SARIF, JUnit XML) with the run's artifacts.

A report lands in `<artifacts_dir>/<pipeline>/<number>/<file name>` (RunLayout.artifact_file),
written next to its place and renamed into it, so a reader never sees half of it; the returned
ArtifactFile is what the task runner records. A report the step's processes wrote is read from
the workspace only through `workspace_file`, which refuses a path (symlinks included) that leads
out of the workspace: a build script cannot make flowplan copy a file it may not read itself.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flowplan.executor.run.layout import inside
from flowplan.executor.step_type import ArtifactFile, StepContext

MAX_REPORT_BYTES = 64 * 1024 * 1024        # one report file; a bigger one is not kept


class ReportTooLarge(Exception):
    """A report file over MAX_REPORT_BYTES."""


def workspace_file(context: StepContext, relative: str | os.PathLike[str]) -> Path:
    """`relative` in the step's workspace, resolved; PathEscape when it leads outside."""
    return inside(context.workspace, relative, "report path")


def write_report(context: StepContext, file_name: str, data: bytes) -> ArtifactFile:
    """Keep `data` as the run's artifact `file_name`."""
    target = context.layout.artifact_file(file_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ArtifactFile(file_name, target, len(data), hashlib.sha256(data).hexdigest())


def keep_report(context: StepContext, source: Path, file_name: str) -> ArtifactFile:
    """Copy the workspace file `source` (checked with `workspace_file`) into the artifact
    `file_name`; ReportTooLarge past MAX_REPORT_BYTES."""
    path = workspace_file(context, source.relative_to(context.workspace)
                          if source.is_absolute() else source)
    with open(path, "rb") as handle:
        data = handle.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise ReportTooLarge(f"{source} is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB: "
                             "not kept")
    return write_report(context, file_name, data)
