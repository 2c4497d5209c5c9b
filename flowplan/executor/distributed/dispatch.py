"""The driver's side of the celery executor: `CeleryDispatcher.run_task` sends one ready task to
its queue and waits, on a thread of the drive's pool, until a worker answers with its status.

While it waits it watches the worker's heartbeat (queue.py): a task whose worker beat once and
then stayed silent for `heartbeat_timeout` seconds is lost (the worker was killed, its machine
stopped). A lost task's step processes left on this machine are killed, then the task is sent
again while its `retries` allow (each loss uses one, as a failed attempt does), else it fails
with "worker lost". A task nobody took yet when the run is canceled is revoked and closed
`canceled` here; one a worker runs is canceled by that worker, which watches the store.

When the broker cannot be reached at dispatch, the task fails with an error that names the broker
(without its password) and the run ends `failed`, recorded like any other: decided so that the
run is never left `running` with nobody driving it; `flowplan retry RUN` runs it again once the
broker is back.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from flowplan import processes
from flowplan.executor import events
from flowplan.executor.distributed.queue import (DEFAULT_QUEUE, TASK_NAME, BrokerError,
                                                 TaskMessage, beat_key, celery_app,
                                                 connection_errors, done_key,
                                                 redis_client, require_broker, shown_url)
from flowplan.executor.process import kill_group
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.store import TaskRunRecord

_LOST = object()


class CeleryDispatcher:
    """Sends tasks of any number of drives to Celery workers; safe to share between threads."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self._app: Any = None
        self._answers: Any = None
        self._connect_lock = threading.Lock()

    def _connect(self) -> None:
        with self._connect_lock:
            if self._app is None:
                broker = require_broker(self.settings.broker)
                self._answers = _Answers(broker, max(0.05, self.settings.heartbeat_interval))
                self._app = celery_app(broker)

    def run_task(self, drive: Any, stage: str, name: str, definition: dict[str, Any],
                 record: TaskRunRecord) -> Status:
        started = time.monotonic()
        queue = definition.get("runs_on") or DEFAULT_QUEUE
        retries = int(definition.get("retries") or 0)
        first = self._first_attempt(drive, record)
        left = retries
        while True:
            if drive.stopping():
                return self._close(drive, record, Status.CANCELED,
                                   drive.cancel_reason or "canceled", started)
            message = TaskMessage(drive.run_id, record.id, stage, name, uuid.uuid4().hex,
                                  left, self.settings.heartbeat_interval,
                                  self.settings.heartbeat_timeout)
            try:
                self._send(message, queue)
            except BrokerError as exc:           # unconfigured, or unreachable
                return self._close(drive, record, Status.FAILED, str(exc), started)
            answer = self._wait(drive, message, record)
            if answer is not _LOST:
                if _listened(drive):
                    drive.emit(events.TaskFinished(drive.ref, stage, name, answer,
                                                   time.monotonic() - started,
                                                   self._attempt(drive, record)))
                return answer
            self._stop_leftovers(drive, record)
            lost = (f"worker lost: no heartbeat for {self.settings.heartbeat_timeout:g}s from "
                    f"the worker running it on queue {queue!r}")
            # the attempts made so far, failed on the worker or lost, use the retries up
            left = retries - (_fresh(drive, record).attempt - first + 1)
            if left < 0:
                return self._close(drive, record, Status.FAILED, lost, started)
            drive.close_steps(record, Status.FAILED, lost)   # the next attempt starts afresh
            record = _fresh(drive, record)

    @staticmethod
    def _first_attempt(drive: Any, record: TaskRunRecord) -> int:
        """The attempt a worker starts with (TaskRunner's rule: the recorded one, unless its
        steps ran already). A task never started ran no step: no store read for it."""
        if record.started_at is None:
            return record.attempt
        ran = any(s.task_run_id == record.id and s.attempt == record.attempt
                  and Status(s.status) != Status.QUEUED
                  for s in drive.store.step_runs(drive.run_id, latest=True))
        return record.attempt + 1 if ran else record.attempt

    def _send(self, message: TaskMessage, queue: str) -> None:
        self._connect()
        try:
            self._app.send_task(TASK_NAME, args=[message.payload()], queue=queue, retry=False,
                                task_id=message.token)
        except connection_errors() as exc:
            broker = shown_url(self.settings.broker or "")
            raise BrokerError(
                f"cannot send the task to queue {queue!r}: the broker {broker} cannot be "
                f"reached ({type(exc).__name__}: {_first_line(exc)}); the run is recorded as "
                "failed, `flowplan retry` it once the broker is back") from None

    def _wait(self, drive: Any, message: TaskMessage, record: TaskRunRecord) -> Any:
        """The status the worker answers; _LOST when its heartbeat stopped. A broker outage
        is not silence: the worker cannot beat through it either, so after one the worker has
        a whole `heartbeat_timeout` to beat again before its task counts as lost."""
        poll = max(0.05, self.settings.heartbeat_interval)
        beat_seen = False
        with self._answers.expect(message.token) as expected:
            while True:
                answer = expected.wait(poll)
                beating = answer is None and expected.beating
                if (answer is not None or beating) and not beat_seen:
                    if _listened(drive):          # a worker took it: tell the run's watchers
                        self._started(drive, record)
                    beat_seen = True
                if answer is not None:
                    said = json.loads(answer)
                    if said.get("error"):         # the worker could not record it itself
                        drive.close_task(record, Status.FAILED, said["error"], None)
                    return Status(said["status"])
                if beating or expected.beating is None:   # not looked at yet
                    continue
                if not beat_seen:
                    if drive.cancel.is_set():      # nobody took it yet
                        try:
                            self._app.control.revoke(message.token)
                        except connection_errors():     # a worker that takes it later finds
                            pass                        # the run canceled in the store
                        drive.close_task(record, Status.CANCELED,
                                         drive.cancel_reason or "canceled", None)
                        return Status.CANCELED
                    continue
                if time.monotonic() - self._answers.outage_at < self.settings.heartbeat_timeout:
                    continue
                # it beat, and its key expired: silent for heartbeat_timeout
                current = _fresh(drive, record)
                if Status(current.status).finished:
                    return Status(current.status)     # it finished; its answer did not arrive
                return _LOST

    @staticmethod
    def _started(drive: Any, record: TaskRunRecord) -> None:
        current = _fresh(drive, record)
        drive.emit(events.TaskStarted(drive.ref, record.stage, record.task, current.attempt,
                                      current.workspace or ""))

    def _close(self, drive: Any, record: TaskRunRecord, status: Status, error: str,
               started: float) -> Status:
        drive.close_task(record, status, error, None)
        drive.emit(events.TaskFinished(drive.ref, record.stage, record.task, status,
                                       time.monotonic() - started, record.attempt,
                                       error=drive.mask(error)))
        return status

    @staticmethod
    def _attempt(drive: Any, record: TaskRunRecord) -> int:
        return _fresh(drive, record).attempt

    @staticmethod
    def _stop_leftovers(drive: Any, record: TaskRunRecord) -> None:
        """Kill the process groups of the lost task's running steps, where they run on this
        machine (a worker on another machine took its own with it, or its machine stopped)."""
        for step in drive.store.step_runs(drive.run_id, latest=True):
            if step.task_run_id == record.id and Status(step.status) == Status.RUNNING \
                    and step.pid and processes.group_is_still(step.pid, step.pid_start_time,
                                                              step.boot_id):
                kill_group(step.pid)


class _Expected:
    """One dispatched task's answer and heartbeat, as the collector last saw them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.answer: str | None = None
        self.beating: bool | None = None      # None until the first look at its key
        self.changed = threading.Event()

    def wait(self, seconds: float) -> str | None:
        self.changed.wait(seconds)
        self.changed.clear()
        return self.answer


class _Answers:
    """The answers and heartbeats of all the tasks a process dispatched, collected by one
    thread on one connection: a BLPOP on every awaited answer key (and this process's wake
    key, pushed when a task is added, so the read takes it in at once) answers the waiting
    thread as soon as its worker pushes; between two reads, one pipelined EXISTS per
    `interval` looks at all their heartbeat keys. A thousand tasks waiting cost one
    connection and a few commands a second, not a connection and a poll each."""

    def __init__(self, broker: str, interval: float) -> None:
        self.interval = interval
        self.outage_at = -float("inf")         # when the broker last failed a command
        self._client = redis_client(broker, read_timeout=interval + 10)
        self._wake = f"flowplan:driver:{uuid.uuid4().hex}:wake"
        self._expected: dict[str, _Expected] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def expect(self, token: str) -> Iterator[_Expected]:
        expected = _Expected(token)
        with self._lock:
            self._expected[done_key(token)] = expected
            if self._thread is None:
                self._thread = threading.Thread(target=self._collect, daemon=True,
                                                name="flowplan-celery-answers")
                self._thread.start()
            self._lock.notify()
        try:
            self._client.rpush(self._wake, "1")
        except connection_errors():        # the collector notices the outage itself
            pass
        try:
            yield expected
        finally:
            with self._lock:
                del self._expected[done_key(token)]

    def _collect(self) -> None:
        looked = 0.0
        while True:
            with self._lock:
                while not self._expected:
                    self._lock.wait()
                waiting = list(self._expected.values())
            try:
                if time.monotonic() - looked >= self.interval:
                    self._look(waiting)
                    looked = time.monotonic()
                block = max(0.01, self.interval - (time.monotonic() - looked))
                got = self._client.blpop([self._wake, *(done_key(e.token) for e in waiting)],
                                         timeout=block)
                if got is not None and _text(got[0]) == self._wake:
                    self._client.delete(self._wake)    # one wake serves all those added
                    continue
            except Exception:  # noqa: BLE001 - unreachable (or answering nonsense): an outage,
                self.outage_at = time.monotonic()   # during which no task counts as lost
                time.sleep(self.interval)
                continue
            if got is None:
                continue
            with self._lock:
                expected = self._expected.get(_text(got[0]))
            if expected is not None:
                expected.answer = _text(got[1])
                expected.changed.set()

    def _look(self, waiting: list[_Expected]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for expected in waiting:
            pipe.exists(beat_key(expected.token))
        for expected, found in zip(waiting, pipe.execute()):
            expected.beating = bool(found)
            expected.changed.set()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _listened(drive: Any) -> bool:
    """Whether anyone receives the drive's events (building one may read the store)."""
    return drive.on_event is not events.ignore


def _fresh(drive: Any, record: TaskRunRecord) -> TaskRunRecord:
    return next(t for t in drive.store.task_runs(drive.run_id) if t.id == record.id)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "no detail"
