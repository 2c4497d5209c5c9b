"""Turns at a SQLite store's write lock, taken by flowplan's writers before they ask SQLite.

SQLite lets one connection at a time write. The others wait in its busy handler, which sleeps
between its tries (1, 2, 5, 10 ms ... then 100 ms at a time) and queues nobody: a writer that
wakes just after the lock was taken again sleeps another 100 ms. Under many writers at once (a
driver's drives, the threads of two celery workers and the server, all on one store) a writer
can lose that race for seconds: `bench/distributed.py` measured a BEGIN IMMEDIATE waiting up to
3.3 s, and a task's 0.5 s step recorded as 2-3 s long.

So a write transaction on a SQLite file first takes a turn (`WriterTurns.take`): the threads of
one process wait on a lock, handed over the moment it is released; the processes share an
exclusive `flock` on a file beside the database (`flowplan.db-lock`), which the one waiting
thread of each process asks for every few milliseconds. SQLite's own lock is then free when the
writer with the turn asks for it, and its busy handler only waits for writers that are not
flowplan's (the sqlite3 shell, a checkpoint). The turn is given back when the transaction
commits or rolls back, or its connection closes (`TurnConnection`).

A process that dies holding the turn loses it with its file descriptors. When the lock file
cannot be created (a read-only directory) the threads of a process still take turns and the
processes fall back on SQLite's busy handler.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

LOCK_SUFFIX = "-lock"
FIRST_RETRY_SECONDS = 0.0005     # a process waiting for another's turn asks again after this,
LAST_RETRY_SECONDS = 0.002       # doubling up to this


class TurnTimeout(TimeoutError):
    """Other writers kept the turn for longer than a write waits."""


class WriterTurns:
    """The turns at one SQLite database's write lock, for the threads of this process."""

    def __init__(self, database: Path, timeout: float) -> None:
        self.path = database.with_name(database.name + LOCK_SUFFIX)
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._opened = False
        _ALL.add(self)

    def take(self) -> None:
        """Wait for this process's and then every flowplan process's turn; TurnTimeout past
        `timeout`."""
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise TurnTimeout(f"no turn to write {self.path.name[:-len(LOCK_SUFFIX)]} in "
                              f"{self.timeout:g} s")
        try:
            fd = self._lock_file()
            if fd is None:
                return
            delay = FIRST_RETRY_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    pass
                if time.monotonic() >= deadline:
                    raise TurnTimeout(f"no turn to write {self.path.name[:-len(LOCK_SUFFIX)]} "
                                      f"in {self.timeout:g} s")
                time.sleep(delay)
                delay = min(delay * 2, LAST_RETRY_SECONDS)
        except BaseException:
            self._threads.release()
            raise

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def _lock_file(self) -> int | None:
        if not self._opened:
            self._opened = True
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = None
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._opened = None, False

    def _after_fork(self) -> None:
        """In a forked child: the parent's turn (if one of its threads held it) is not ours."""
        self._threads = threading.Lock()
        self._fd, self._opened = None, False     # the inherited descriptor stays the parent's


_ALL: weakref.WeakSet[WriterTurns] = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [turns._after_fork() for turns in list(_ALL)])


class TurnConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its turn back when its transaction ends."""

    turns: WriterTurns | None = None         # set on the subclass `connection_class` makes
    _holding = False

    def take_turn(self) -> None:
        if self.turns is not None and not self._holding:
            self.turns.take()
            self._holding = True

    def give_back_turn(self) -> None:
        if self._holding:
            self._holding = False
            self.turns.give_back()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back_turn()


def connection_class(turns: WriterTurns) -> type[TurnConnection]:
    """The sqlite3 connection factory of one database's connections."""
    return type("TurnConnection", (TurnConnection,), {"turns": turns})
