"""Running one process of a step: in the step's workspace and environment, as its user, under
its deadline and cancel flag, with its output going to the step's log.

`run_in_step` returns a `Finished`: the process result, or the StepResult that ends the step
when the process did not run to an exit code (not started, canceled, timed out, killed by a
signal). What an exit code means is left to the step type. `step_directory` is a step's
`working_dir` in its workspace.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flowplan.config.schema import parse_duration
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.process import ProcessResult, run_process
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user
from flowplan.executor.step_type import StepContext, StepResult

MAX_ARGUMENT_BYTES = 100_000


@dataclass(frozen=True)
class Finished:
    """How a step's process ended: `result` when it exited, else `failure` says why not."""

    result: ProcessResult | None
    failure: StepResult | None

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code if self.result is not None else None


def deadline_of(context: StepContext, timeout: str | None,
                since: float | None = None) -> tuple[float | None, str | None]:
    """The earlier of the task's deadline and the step's own `timeout` counted from `since`
    (time.monotonic(); default now), with its description."""
    deadline, limit = context.deadline, context.timeout_text
    if timeout:
        own = (time.monotonic() if since is None else since) + parse_duration(timeout)
        if deadline is None or own < deadline:
            deadline, limit = own, f"the step's timeout of {timeout}"
    return deadline, limit


def run_in_step(context: StepContext, argv: Sequence[str], *, timeout: str | None = None,
                cwd: Path | None = None, env: Mapping[str, str] | None = None,
                since: float | None = None) -> Finished:
    """Run `argv` as the step's process (see the module text); `env` adds to the step's own
    environment, `cwd` defaults to the workspace. `timeout` counts from `since` (a
    time.monotonic() value), so that a step running several processes can share one."""
    deadline, limit = deadline_of(context, timeout, since)
    environment = {**context.environment, **(env or {})}
    try:
        result = run_process(list(argv), cwd=cwd or context.workspace, env=environment,
                             on_output=context.log.feed, deadline=deadline,
                             cancel=context.cancel, grace=context.kill_grace,
                             on_start=context.on_process, user=context.user)
    except OSError as exc:
        return Finished(None, StepResult(Status.FAILED,
                                         error=f"cannot start {argv[0]}: {exc.strerror}"))
    finally:
        context.log.end(time.time())
    if result.canceled:
        return Finished(result, StepResult(Status.CANCELED, exit_code=result.exit_code,
                                           error="canceled"))
    if result.timed_out:
        how = (f"SIGTERM, then SIGKILL after {context.kill_grace:g}s" if result.killed
               else "SIGTERM")
        return Finished(result, StepResult(Status.FAILED, exit_code=result.exit_code,
                                           error=f"timed out: {limit} ran out; stopped with {how}"))
    if result.signal is not None:
        return Finished(result, StepResult(Status.FAILED,
                                           error=f"killed by signal {result.signal}"))
    return Finished(result, None)


def script_argv(context: StepContext, script: str, shell: str = "bash -e") -> list[str]:
    """`<shell words> -c <script>`; a script too long for one argument is written to a file in
    the task's private directory (readable by the step's user only) and passed by path.
    ValueError when `shell` is empty or cannot be split into words."""
    try:
        words = list(_shell_words(shell))
    except ValueError as exc:
        raise ValueError(f"shell {shell!r} cannot be split into words: {exc}") from None
    if not words:
        raise ValueError("shell is empty")
    if len(script.encode("utf-8", "replace")) > MAX_ARGUMENT_BYTES:
        path = context.private_dir / f"{context.step}.script"
        step_user.write_file(path, script, context.user)
        return [*words, str(path)]
    return [*words, "-c", script]


@lru_cache(maxsize=64)
def _shell_words(shell: str) -> tuple[str, ...]:
    return tuple(shlex.split(shell))


def step_directory(context: StepContext, relative: str) -> Path:
    """The directory `relative` (a step's `working_dir`) in the workspace, resolved; PathEscape
    when it leads outside the workspace or is not a directory there."""
    path = inside(context.workspace, relative or ".", "working_dir")
    if not path.is_dir():
        raise PathEscape(f"working_dir {relative!r} is not a directory in the workspace"
                         if path.exists() else
                         f"working_dir {relative!r} does not exist in the workspace")
    return path
