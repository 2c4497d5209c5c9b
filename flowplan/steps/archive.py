"""The `archive` step type: a named tar.gz artifact of workspace files, with its SHA-256.

`paths` are globs relative to the workspace (`**` recurses, hidden files match). A pattern that is
absolute, starts with `~`, climbs out with `..`, or matches a symlink leading outside the workspace
fails the step; so does a pattern that matches nothing. The archive is written next to its final
place and renamed into `<artifacts_dir>/<pipeline>/<number>/<name>.tgz`, so a reader never sees half
of it. With `run_as`, the workspace is read by a child process as the step's user
(flowplan.executor.step_process.step_user.file_work), which writes the archive into flowplan's file:
the user's processes cannot make flowplan read what the user may not. Recording the artifact in the
store is the task runner's, from the returned StepResult.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import time
from pathlib import Path

from flowplan.config.steps import ArchiveStep
from flowplan.executor.errors import PathEscape
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user, user_files
from flowplan.executor.step_type import ArtifactFile, StepContext, StepResult


class ArchiveStepType:
    name = "archive"
    config_model = ArchiveStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: ArchiveStep = context.config
        try:
            target = context.layout.artifact_path(config.name)
            if context.user is None:
                members = collect(context.workspace, config.paths)
                size, digest = write_tgz(target, context.workspace, members)
                count = len(members)
            else:
                size, digest, count = pack_as(context.user, target, context.workspace,
                                              config.paths)
        except (PathEscape, step_user.FileWorkFailed) as exc:
            return StepResult(Status.FAILED, error=str(exc))
        context.log.say(f"archived {count} path{'s' if count != 1 else ''} into "
                        f"{target.name}: {size} bytes, sha256 {digest}", time.time())
        return StepResult(Status.SUCCEEDED,
                          artifacts=(ArtifactFile(config.name, target, size, digest),))


def collect(workspace: Path, patterns: list[str]) -> list[str]:
    """Workspace-relative paths the patterns match, in a stable order; PathEscape for a pattern
    or a match outside the workspace, or a pattern that matches nothing."""
    try:
        return user_files.collect(workspace, patterns)
    except user_files.Refused as exc:
        raise PathEscape(str(exc)) from None


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


def pack_as(user: step_user.StepUser, target: Path, workspace: Path,
            patterns: list[str]) -> tuple[int, str, int]:
    """Like collect and write_tgz, the workspace read as `user`: size, SHA-256, path count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            code, said = step_user.file_work(user, "pack", [str(workspace), *patterns],
                                             cwd=workspace, stdout=out)
        last = said.splitlines()[-1] if said else ""
        if code == user_files.REFUSED:
            raise PathEscape(last or "archive path refused")
        if code != 0 or not last.isdigit():
            raise step_user.FileWorkFailed(f"archiving as {user.name} failed (exit code {code}): "
                                           f"{said[-2000:]}")
        count = int(last)
        digest = file_sha256(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target.stat().st_size, digest, count


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
