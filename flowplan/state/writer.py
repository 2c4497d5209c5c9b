"""Recording resource changes during apply, each durable before its caller goes on, in few writes.

Holds `StateWriter`. Apply runs resources on several worker threads; after each resource completes
its thread calls `record()` or `forget()`, which returns only once that change is in the state file
on disk. Rewriting the whole file per change would cost O(n) per change and O(n^2) per apply, so
changes use group commit: while one write runs, the changes that arrive queue up, and the next write
takes them all at once. There is no background thread: the first waiting caller writes for everyone
in its group (the leader), the others wait for that write and share its outcome, failure included.

It leaves the file format, atomicity and locking to the backend (flowplan.state.local), and the
choice of what to record to apply.
"""

from __future__ import annotations

import threading
from typing import Protocol

from flowplan.state.model import ResourceState, State


class StateBackend(Protocol):
    def write(self, state: State) -> None: ...


class StateWriter:
    """Thread-safe recorder of apply results into `state`, persisted through `backend`.

    The writer owns `state` while it is in use: other code should not change it meanwhile. Changes
    are applied to `state` just before the write that persists them. When a write fails, its
    callers get the exception; their changes stay in the in-memory state and go out with the next
    successful write.
    """

    def __init__(self, backend: StateBackend, state: State):
        self.backend = backend
        self.state = state
        self._condition = threading.Condition(threading.Lock())
        self._pending: list[tuple[str, ResourceState | str]] = []
        self._open_batch = 1          # number of the batch that newly queued changes go into
        self._finished_batch = 0      # highest batch whose write has ended (ok or not)
        self._writing = False
        self._failures: dict[int, BaseException] = {}
        self.writes = 0               # successful writes, for progress and tests

    def record(self, resource: ResourceState) -> None:
        """Insert or replace `resource` in the state; returns once that is on disk."""
        self._commit(("record", resource))

    def forget(self, address: str) -> None:
        """Remove the resource at `address` from the state; returns once that is on disk."""
        self._commit(("forget", address))

    def _commit(self, change: tuple[str, ResourceState | str]) -> None:
        with self._condition:
            self._pending.append(change)
            batch = self._open_batch
            while self._finished_batch < batch:
                if self._writing:
                    self._condition.wait()
                    continue
                self._write_open_batch()   # lead: write everything queued so far, ours included
            failure = self._failures.get(batch)
        if failure is not None:
            raise failure

    def _write_open_batch(self) -> None:
        """Called with the condition held; releases it for the duration of the write."""
        batch, changes = self._open_batch, self._pending
        self._open_batch, self._pending = batch + 1, []
        self._writing = True
        failure: BaseException | None = None
        self._condition.release()
        try:
            for kind, payload in changes:
                if kind == "record":
                    self.state.set(payload)      # type: ignore[arg-type]
                else:
                    self.state.remove(payload)   # type: ignore[arg-type]
            self.backend.write(self.state)
        except BaseException as error:  # handed to every caller of this batch
            failure = error
        finally:
            self._condition.acquire()
            self._writing = False
            self._finished_batch = batch
            if failure is not None:
                self._failures[batch] = failure
            else:
                self.writes += 1
            self._condition.notify_all()
