"""Waiting for a held state lock: `lock_within(backend, operation, on_event, timeout)`.

`--lock-timeout DURATION` of plan, apply, destroy, import, state rm and state migrate. With the
default 0 the lock is tried once and a held lock fails at once with the holder's details, as it
always has. With a timeout the lock is tried again, polling with backoff (0.1 s, doubling, at
most 2 s between tries), until it is taken or the time is up; `on_event` hears once that we wait
and for whom (StateLockWaiting), and a timeout fails with the last holder's details and how long
it waited. Ctrl-C (or SIGTERM under apply) while waiting stops the wait cleanly: nothing was
locked, read or written (LockWaitInterrupted).

Works the same for every backend: it only calls `backend.lock`, which fails at once with
StateLockedError when the lock is held (a file lock locally, an advisory lock in pg).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

from flowplan.events import EventSink, StateLockWaiting, ignore
from flowplan.state.lock import LockInfo, StateLockedError
from flowplan.state.model import StateError

__all__ = ["lock_within", "parse_lock_timeout", "LockWaitInterrupted", "FIRST_POLL",
           "LONGEST_POLL"]

FIRST_POLL = 0.1            # seconds before the second try
LONGEST_POLL = 2.0          # the backoff stops doubling here


class LockWaitInterrupted(StateError):
    """Ctrl-C (or SIGTERM) while waiting for the state lock: nothing was done."""

    def __init__(self, path: str, holder: LockInfo | None, stopped_by: str):
        self.holder = holder
        held = (f" (held by {holder.holder} for {holder.operation}, lock id {holder.id})"
                if holder is not None else "")
        super().__init__(f"stopped by {stopped_by} while waiting for the state lock on {path}"
                         f"{held}. Nothing was locked, read or written.")


def parse_lock_timeout(text: str) -> float:
    """Seconds in a `--lock-timeout` value: 0, a number of seconds, or a duration such as
    30s, 5m, 1h30m. ValueError saying what to write otherwise."""
    from flowplan.config.schema import parse_duration

    given = (text or "").strip()
    if given.isdigit():
        return float(given)
    try:
        return float(parse_duration(given))
    except ValueError:
        raise ValueError(f"--lock-timeout {text!r} is not a duration: write 0 (fail at once, "
                         "the default), a number of seconds, or e.g. 30s, 5m, 1h30m") from None


@contextlib.contextmanager
def lock_within(backend: Any, operation: str, on_event: EventSink = ignore,
                timeout: float = 0.0, *, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> Iterator[LockInfo]:
    """Hold `backend`'s state lock for `operation`, waiting up to `timeout` seconds for it.

    StateLockedError (with `waited` set when we waited) when it is still held at the end;
    LockWaitInterrupted on Ctrl-C while waiting. The lock is released when the block exits."""
    with contextlib.ExitStack() as stack:
        info = _acquire(stack, backend, operation, on_event, timeout, sleep, clock)
        yield info


def _acquire(stack: contextlib.ExitStack, backend: Any, operation: str, on_event: EventSink,
             timeout: float, sleep: Callable[[float], None],
             clock: Callable[[], float]) -> LockInfo:
    if timeout <= 0:
        return stack.enter_context(backend.lock(operation, on_event))
    started = clock()
    delay = FIRST_POLL
    holder: LockInfo | None = None
    try:
        while True:
            try:
                return stack.enter_context(backend.lock(operation, on_event))
            except StateLockedError as locked:
                now = clock()
                left = timeout - (now - started)
                if left <= 0.001:               # not worth another try
                    raise StateLockedError(locked.info, waited=now - started) from None
                if holder is None:
                    on_event(StateLockWaiting(str(locked.info.path), locked.info.holder,
                                              locked.info.operation, locked.info.created,
                                              locked.info.id, timeout))
                holder = locked.info
                sleep(min(delay, left))
                delay = min(delay * 2, LONGEST_POLL)
    except KeyboardInterrupt as interrupt:
        stopped_by = "SIGTERM" if str(interrupt) == "SIGTERM" else "Ctrl-C"
        raise LockWaitInterrupted(str(getattr(backend, "path", "")), holder,
                                  stopped_by) from None
