"""Where Ctrl-C and SIGTERM may break into the main thread.

The CLI turns both into KeyboardInterrupt raised in the main thread (flowplan.cli.app
`terminate_as_interrupt`). Raised at an arbitrary point, that exception can leave a lock taken:
inside `threading.Condition.__enter__` (Python code), after the lock is acquired and before the
`with` block that would release it starts. A worker thread then waits for that lock forever and
the command never exits; `flowplan apply` interrupted while it handed work to its thread pool hung
that way.

Code that touches such locks from the main thread runs inside `deferred()`: a signal arriving
there is kept and raised when the outermost `deferred()` block ends, where nothing is half-taken.
A second signal while one is kept raises at once: someone insists, as a second Ctrl-C always has.
Blocking waits that need no Python-level lock (queue.SimpleQueue.get) stay outside, so a walk
still reacts at once while it waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0                                  # main thread only: signal handlers run there
_kept: BaseException | None = None


def raise_or_keep(interrupt: BaseException) -> None:
    """What a signal handler calls: raise `interrupt` now, or keep it for the end of the
    `deferred()` block the main thread is in (raise now when one is kept already)."""
    global _kept
    if _depth and _kept is None:
        _kept = interrupt
        return
    _kept = None                            # this one is raised instead
    raise interrupt


@contextmanager
def deferred() -> Iterator[None]:
    """A block in which signal handlers that use `raise_or_keep` do not raise."""
    global _depth, _kept
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _kept is not None:
            kept, _kept = _kept, None
            raise kept
