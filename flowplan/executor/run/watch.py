"""Watching runs for a stop decided elsewhere, for all the drives of a process at once.

A run is canceled by another process (`flowplan cancel`, the server) through the store, and on a
celery worker a run whose driver died is marked `interrupted` there. A process driving runs
(RunService: `flowplan run`, the server, a scheduler) or serving their tasks (a celery worker)
must notice within `poll_interval`. `RunWatch` asks the store once per interval for the status
of every run it watches (Store.run_statuses, one query) and hands each drive its run's status
(Drive.observe sets the drive's cancel flag, which its running steps watch). A server driving a
hundred runs then costs one query per interval, not a hundred, and no thread per run.

A drive it watches is `watched`: its stage loop and dispatcher read the flag (Drive.stopping)
instead of the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class RunWatch:
    """One thread, running while drives are watched, asking `store` every `interval` seconds;
    `on_tick` (if given) is called after each look. The thread is stopped, and waited for, when
    the last drive is removed: a process that has finished its runs has nothing of this left
    running while it exits."""

    def __init__(self, store: Any, interval: float,
                 on_tick: Callable[[], None] | None = None) -> None:
        self.store = store
        self.interval = interval
        self.on_tick = on_tick
        self._drives: set[Any] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()          # the running thread's

    def add(self, drive: Any) -> None:
        drive.watched = True
        with self._lock:
            self._drives.add(drive)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._loop, args=(self._stop,),
                                                name="flowplan-run-watch", daemon=True)
                self._thread.start()

    def remove(self, drive: Any) -> None:
        with self._lock:
            self._drives.discard(drive)
            ending = None
            if not self._drives and self._thread is not None:
                self._stop.set()
                ending, self._thread = self._thread, None
        drive.watched = False
        if ending is not None and ending is not threading.current_thread():
            ending.join()

    def look(self) -> None:
        """Hand every watched drive its run's status as the store has it now."""
        with self._lock:
            drives = list(self._drives)
        if not drives:
            return
        try:
            statuses = self.store.run_statuses({drive.run_id for drive in drives})
        except Exception:  # noqa: BLE001 - the store's outage: look again next time
            return
        for drive in drives:
            if drive.run_id in statuses:
                try:
                    drive.observe(statuses[drive.run_id])
                except Exception:  # noqa: BLE001 - reading the cancel reason failed: again
                    pass

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.look()
            if self.on_tick is not None:
                self.on_tick()
