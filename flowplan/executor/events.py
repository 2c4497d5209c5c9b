"""Progress events of a run, for the CLI and the dashboard to render.

The executor never prints: it calls the `on_event` callable it was given with these frozen
objects, one at a time (a lock serialises the calls of parallel tasks). Every event names its run as
`run` ("pipeline#number"). Rendering them is left to flowplan.views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowplan.executor.status import Status


@dataclass(frozen=True)
class RunStarted:
    run: str
    run_id: int
    pipeline: str
    number: int
    trigger: str
    user: str | None
    continued: bool                 # False for a new run; True after approve/retry/skip/resume


@dataclass(frozen=True)
class SourceCheckedOut:
    run: str
    commit: str
    short: str
    branch: str | None
    author: str
    message: str


@dataclass(frozen=True)
class StageStarted:
    run: str
    stage: str


@dataclass(frozen=True)
class TaskStarted:
    run: str
    stage: str
    task: str
    attempt: int
    workspace: str


@dataclass(frozen=True)
class StepStarted:
    run: str
    stage: str
    task: str
    step: str
    type: str
    attempt: int


@dataclass(frozen=True)
class LogLines:
    """Lines a step printed on one stream at one moment (one event per read, not per line)."""

    run: str
    stage: str
    task: str
    step: str
    stream: str                     # stdout, stderr, system
    first_seq: int
    at: float                       # seconds since the epoch
    lines: tuple[str, ...]          # masked


@dataclass(frozen=True)
class StepFinished:
    run: str
    stage: str
    task: str
    step: str
    status: Status                  # succeeded, failed, canceled, waiting
    seconds: float
    exit_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class TaskFinished:
    run: str
    stage: str
    task: str
    status: Status
    seconds: float
    attempt: int
    failure_allowed: bool = False   # failed, counted as succeeded-with-warning
    will_retry: bool = False        # another attempt follows (`retries`)
    error: str | None = None


@dataclass(frozen=True)
class StageFinished:
    run: str
    stage: str
    status: Status
    seconds: float


@dataclass(frozen=True)
class Gate:
    """Something the run waits for: a manual stage, a manual_approval step, or a paused
    deploy (`kind` "pause")."""

    stage: str
    task: str | None = None
    step: str | None = None
    description: str = ""
    who: str = "anyone"             # who may decide, in words
    kind: str = "approval"


@dataclass(frozen=True)
class RunWaiting:
    run: str
    gates: tuple[Gate, ...]
    commands: tuple[str, ...]       # what to type to continue, e.g. "flowplan approve app#3"


@dataclass(frozen=True)
class RunFinished:
    run: str
    status: Status
    seconds: float
    error: str | None = None
    warnings: tuple[str, ...] = ()  # tasks that failed but were allowed to


EventSink = Callable[[object], None]


def ignore(event: object) -> None:
    """An event sink that drops everything."""
