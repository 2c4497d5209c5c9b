"""Progress events: what core reports while it works, for views to turn into text.

Core never prints. Long operations take an `on_event` callable and call it with these objects;
the CLI renders them as lines, the dashboard can stream them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RefreshStarted:
    address: str


@dataclass(frozen=True)
class ApplyStarted:
    address: str
    action: str                      # create, update, replace, delete


@dataclass(frozen=True)
class ApplyFinished:
    address: str
    action: str
    seconds: float
    id: str | None = None


@dataclass(frozen=True)
class ApplyFailed:
    address: str
    action: str
    error: str


@dataclass(frozen=True)
class ApplySkipped:
    address: str
    blocked_by: str


@dataclass(frozen=True)
class StateLockTakenOver:
    """The state lock was left behind by a process that no longer runs, and was taken over."""

    path: str                        # the state file
    holder: str                      # the old holder, "user@host pid N"
    operation: str
    created: str
    lock_id: str
    reason: str                      # e.g. "process 123 is no longer running"


@dataclass(frozen=True)
class StateLockWaiting:
    """The state lock is held by another flowplan and we wait for it (`--lock-timeout`)."""

    path: str                        # where the state is
    holder: str                      # the holder, "user@host pid N"
    operation: str
    created: str
    lock_id: str
    timeout: float                   # how long we wait at most, in seconds


@dataclass(frozen=True)
class ProviderWarning:
    """A provider's warning while refreshing, planning or applying a resource: it stops nothing
    (a host that did not answer, a host key that changed, an ECS instance gone or its agent
    offline), so it is reported as it comes rather than with the plan."""

    address: str
    summary: str
    detail: str = ""


RefreshWarning = ProviderWarning          # the name refresh has used since warnings began


EventSink = Callable[[object], None]


def ignore(event: object) -> None:
    """An event sink that drops everything."""

