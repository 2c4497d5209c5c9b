"""The `archive` step type: a named tar.gz artifact of workspace files, with its SHA-256.

`paths` are globs relative to the workspace (`**` recurses, hidden files match). A pattern that is
absolute, starts with `~`, climbs out with `..`, or matches a symlink leading outside the workspace
fails the step; so does a pattern that matches nothing. The archive is written next to its final
place and renamed into `<artifacts_dir>/<pipeline>/<number>/<name>.tgz`, so a reader never sees half
of it. Recording the artifact in the store is the task runner's, from the returned StepResult.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tarfile
import tempfile
import time
from pathlib import Path

from flowplan.config.steps import ArchiveStep
from flowplan.executor.errors import PathEscape
from flowplan.executor.layout import inside
from flowplan.executor.status import Status
from flowplan.executor.step_type import ArtifactFile, StepContext, StepResult


class ArchiveStepType:
    name = "archive"
    config_model = ArchiveStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: ArchiveStep = context.config
        try:
            members = collect(context.workspace, config.paths)
            target = context.layout.artifact_path(config.name)
        except PathEscape as exc:
            return StepResult(Status.FAILED, error=str(exc))
        size, digest = write_tgz(target, context.workspace, members)
        context.log.say(f"archived {len(members)} path{'s' if len(members) != 1 else ''} into "
                        f"{target.name}: {size} bytes, sha256 {digest}", time.time())
        return StepResult(Status.SUCCEEDED,
                          artifacts=(ArtifactFile(config.name, target, size, digest),))


def collect(workspace: Path, patterns: list[str]) -> list[str]:
    """Workspace-relative paths the patterns match, in a stable order; PathEscape for a pattern
    or a match outside the workspace, or a pattern that matches nothing."""
    found: dict[str, None] = {}
    for pattern in patterns:
        if not pattern or os.path.isabs(pattern) or pattern.startswith("~"):
            raise PathEscape(f"archive path {pattern!r} must be relative to the workspace")
        if ".." in Path(pattern).parts:
            inside(workspace, os.path.normpath(pattern), "archive path")   # raises if it climbs out
        matches = sorted(glob.glob(pattern, root_dir=workspace, recursive=True,
                                   include_hidden=True))
        if not matches:
            raise PathEscape(f"archive path {pattern!r} matches nothing in the workspace")
        for match in matches:
            inside(workspace, match, "archive path")
            found[os.path.normpath(match)] = None
    return list(found)


def write_tgz(target: Path, root: Path, members: list[str]) -> tuple[int, str]:
    """Write `members` (relative to `root`) into `target` atomically; its size and SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for member in members:
                tar.add(root / member, arcname=member)
        digest = file_sha256(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target.stat().st_size, digest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
