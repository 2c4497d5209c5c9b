"""Which of a stage's queued tasks may start now, and which will never run because a task they
need did not pass: one pure function, `readiness()`, and what it reads (`Finished`).

A task is ready once every task it `needs` in its stage passed (succeeded, skipped on purpose, or
failed with `allow_failure`); it is skipped once one of them did not pass (failed, canceled,
interrupted, or itself skipped because of what it needed or a rejected stage). A need naming a
task outside the stage is not waited for. Ready tasks start in queue order, as many as the
parallelism leaves room for.

Running the tasks, cancel, Ctrl-C, polling for approvals and re-queueing are the scheduler's
(flowplan.executor.run.scheduler); this module only decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flowplan.executor.status import Status, counted

# skipped for these reasons, a task did not pass: what needs it is skipped too
NOT_PASSED_REASONS = ("upstream", "rejected")


@dataclass(frozen=True)
class Finished:
    """How a finished task ended, as far as the tasks that need it care."""

    status: Status
    failure_allowed: bool = False
    skip_reason: str | None = None

    @property
    def passed(self) -> bool:
        return counted(self.status, self.failure_allowed).passed \
            and self.skip_reason not in NOT_PASSED_REASONS


@dataclass(frozen=True)
class Skip:
    """A queued task that will not run, and the needs that did not pass (in `needs` order)."""

    task: str
    failed_needs: tuple[str, ...]

    @property
    def error(self) -> str:
        return f"not run: it needs {', '.join(self.failed_needs)}, which did not pass"


@dataclass(frozen=True)
class Readiness:
    ready: tuple[str, ...]      # start these now, in this order
    skipped: tuple[Skip, ...]   # close these as skipped ("upstream"), in this order


def readiness(needs: Mapping[str, Sequence[str]], queued: Sequence[str],
              finished: Mapping[str, Finished], running: int, parallelism: int) -> Readiness:
    """What to do with the `queued` tasks of a stage whose tasks (every one, with what each
    needs) are `needs`, given the tasks `finished` so far and the `running` count. A skip makes
    the tasks that need the skipped task skipped as well, in the same answer."""
    passed = {name: end.passed for name, end in finished.items() if name in needs}
    waiting = list(queued)
    skipped: list[Skip] = []
    changed = True
    while changed:
        changed = False
        for name in list(waiting):
            failed = tuple(n for n in needs.get(name, ()) if n in passed and not passed[n])
            if failed:
                waiting.remove(name)
                skipped.append(Skip(name, failed))
                passed[name] = False
                changed = True
    room = max(0, parallelism - running)
    ready = [name for name in waiting
             if all(passed.get(n) for n in needs.get(name, ()) if n in needs)][:room]
    return Readiness(tuple(ready), tuple(skipped))
