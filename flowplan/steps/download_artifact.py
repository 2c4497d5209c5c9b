"""The `download_artifact` step type: an artifact of this run, made by an earlier step (an
`archive` step of an earlier stage, say), put into the task's workspace.

By default the archive is unpacked into `path` (relative to the workspace, `.` by default);
with `extract = false` it is copied there as `<name>.tgz`. Its SHA-256 is checked against the
one recorded when it was made, so a file changed on disk since is refused. Unpacking refuses
members that would leave `path` (absolute names, `..`, links leading out, devices), before
anything is written for them. With `run_as`, the workspace is written by a child process as the
step's user (flowplan.executor.step_process.step_user.file_work), reading the archive flowplan
opened: the user cannot make flowplan write where the user may not.
"""

from __future__ import annotations

import time
from pathlib import Path

from flowplan.config.steps import DownloadArtifactStep
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user, user_files
from flowplan.executor.step_type import ArtifactFile, StepContext, StepResult
from flowplan.steps.archive import file_sha256


class DownloadArtifactStepType:
    name = "download_artifact"
    config_model = DownloadArtifactStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: DownloadArtifactStep = context.config
        artifact = context.artifact(config.name)
        if artifact is None:
            return StepResult(Status.FAILED, error=f"this run has no artifact {config.name!r}: "
                                                   "an earlier step must make it (an archive "
                                                   "step in an earlier stage)")
        problem = _damaged(artifact)
        if problem:
            return StepResult(Status.FAILED, error=problem)
        try:
            if config.extract:
                count = _unpack(context, artifact, config.path)
                done = f"unpacked {count} member{'s' if count != 1 else ''} of"
            else:
                _copy(context, artifact, config.path)
                done = "copied"
        except (PathEscape, step_user.FileWorkFailed) as exc:
            return StepResult(Status.FAILED, error=str(exc))
        except (OSError, EOFError, ValueError) as exc:   # tarfile's errors are OSError kin
            return StepResult(Status.FAILED, error=f"artifact {config.name!r} cannot be "
                                                   f"unpacked: {exc}")
        context.log.say(f"{done} artifact {config.name} ({artifact.size} bytes, sha256 "
                        f"{artifact.sha256[:12]}) into {config.path}", time.time())
        return StepResult(Status.SUCCEEDED, outputs={"sha256": artifact.sha256,
                                                     "path": config.path})


def _damaged(artifact: ArtifactFile) -> str | None:
    path = Path(artifact.path)
    if not path.is_file():
        return f"artifact {artifact.name!r} is missing from {path.parent}"
    if file_sha256(path) != artifact.sha256:
        return (f"artifact {artifact.name!r} changed since it was made (its sha256 no longer "
                f"matches): refused")
    return None


def _unpack(context: StepContext, artifact: ArtifactFile, path: str) -> int:
    label = f"artifact {artifact.name}"
    with open(artifact.path, "rb") as data:
        if context.user is None:
            target = inside(context.workspace, path, "path")
            try:
                return user_files.extract_into(data, target, label)
            except user_files.Refused as exc:
                raise PathEscape(str(exc)) from None
        code, said = step_user.file_work(context.user, "unpack", [str(context.workspace), path],
                                         cwd=context.workspace, stdin=data)
    last = said.splitlines()[-1] if said else ""
    if code == user_files.REFUSED:
        raise PathEscape(f"{label}: {last or 'refused'}")
    if code != 0 or not last.isdigit():
        raise step_user.FileWorkFailed(f"unpacking {label} as {context.user.name} failed "
                                       f"(exit code {code}): {said[-500:]}")
    return int(last)


def _copy(context: StepContext, artifact: ArtifactFile, path: str) -> None:
    file_name = f"{artifact.name}.tgz"
    with open(artifact.path, "rb") as data:
        if context.user is None:
            try:
                user_files.receive(data, inside(context.workspace, path, "path"), file_name)
            except user_files.Refused as exc:
                raise PathEscape(str(exc)) from None
            return
        code, said = step_user.file_work(context.user, "receive",
                                         [str(context.workspace), path, file_name],
                                         cwd=context.workspace, stdin=data)
    if code == user_files.REFUSED:
        raise PathEscape(said.splitlines()[-1] if said else "refused")
    if code != 0:
        raise step_user.FileWorkFailed(f"copying artifact {artifact.name} as "
                                       f"{context.user.name} failed (exit code {code}): "
                                       f"{said[-500:]}")
