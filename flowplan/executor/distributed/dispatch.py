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
import time
import uuid
from typing import Any

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
        self._redis: Any = None

    def _connect(self) -> None:
        if self._app is None:
            broker = require_broker(self.settings.broker)
            self._redis = redis_client(broker)
            self._app = celery_app(broker)

    def run_task(self, drive: Any, stage: str, name: str, definition: dict[str, Any],
                 record: TaskRunRecord) -> Status:
        started = time.monotonic()
        queue = definition.get("runs_on") or DEFAULT_QUEUE
        retries = int(definition.get("retries") or 0)
        first = self._first_attempt(drive, record)
        left = retries
        while True:
            if drive.canceled():
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
        steps ran already)."""
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
        poll = max(0.05, min(self.settings.poll_interval, self.settings.heartbeat_interval))
        beat_seen = False
        outage_at = -float("inf")
        while True:
            try:
                answer = self._redis.blpop([done_key(message.token)], timeout=poll)
                beating = answer is None and self._redis.exists(beat_key(message.token))
            except connection_errors():
                outage_at = time.monotonic()
                time.sleep(poll)
                continue
            if (answer is not None or beating) and not beat_seen:
                self._started(drive, record)      # a worker took it: tell the run's watchers
                beat_seen = True
            if answer is not None:
                said = json.loads(answer[1])
                if said.get("error"):             # the worker could not record it itself
                    drive.close_task(record, Status.FAILED, said["error"], None)
                return Status(said["status"])
            if beating:
                continue
            if not beat_seen:
                if drive.cancel.is_set():          # nobody took it yet
                    try:
                        self._app.control.revoke(message.token)
                    except connection_errors():     # a worker that takes it later finds
                        pass                        # the run canceled in the store
                    drive.close_task(record, Status.CANCELED, drive.cancel_reason or "canceled",
                                     None)
                    return Status.CANCELED
                continue
            if time.monotonic() - outage_at < self.settings.heartbeat_timeout:
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


def _fresh(drive: Any, record: TaskRunRecord) -> TaskRunRecord:
    return next(t for t in drive.store.task_runs(drive.run_id) if t.id == record.id)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "no detail"
