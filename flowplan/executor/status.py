"""Run results: the `Status` enum and the one "worst of" combinator.

Every run, task run and step run has a Status. A stage's result is the worst of its tasks', a run's
the worst of its stages'. A task that failed with `allow_failure = true` keeps status FAILED
(that is what happened) but counts as SUCCEEDED towards its stage: `counted()` says what a status counts as,
and `TaskRun.failure_allowed` in the store marks the warning explicitly.

Deciding transitions is the scheduler's (flowplan.executor.run.scheduler); this module only orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Status(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"            # for a person: a manual stage or a manual_approval step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"    # its process died; `resume` continues it

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """Nothing more will happen to it unless someone retries or resumes it."""
        return self in FINISHED

    @property
    def passed(self) -> bool:
        """Work after it may go on (succeeded, or skipped on purpose)."""
        return self in (Status.SUCCEEDED, Status.SKIPPED)


FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.SKIPPED,
                      Status.INTERRUPTED})

# Worst first. A canceled run stays canceled whatever failed inside it; an interrupted one needs a
# resume before anything else means much; waiting beats running only once nothing runs.
_SEVERITY = {status: rank for rank, status in enumerate(reversed((
    Status.INTERRUPTED, Status.CANCELED, Status.FAILED, Status.RUNNING, Status.WAITING,
    Status.QUEUED, Status.SUCCEEDED, Status.SKIPPED)))}


def worst_of(statuses: Iterable[Status | str], default: Status = Status.SUCCEEDED) -> Status:
    """The most severe status of `statuses` (`default` when there are none)."""
    worst: Status | None = None
    for status in statuses:
        status = Status(status)
        if worst is None or _SEVERITY[status] > _SEVERITY[worst]:
            worst = status
    return default if worst is None else worst


def counted(status: Status | str, failure_allowed: bool) -> Status:
    """What a task's status counts as for its stage: a failure it was allowed to have is
    SUCCEEDED (with a warning)."""
    status = Status(status)
    return Status.SUCCEEDED if status is Status.FAILED and failure_allowed else status


def run_result(stage_results: Iterable[Status | str]) -> Status:
    """A run's final status from its stages': all skipped still means the run succeeded."""
    worst = worst_of(stage_results)
    return Status.SUCCEEDED if worst is Status.SKIPPED else worst
