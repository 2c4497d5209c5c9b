"""The worker's side of the celery executor: `flowplan worker --queue NAME [--concurrency N]`
serves one queue, running up to N tasks at once on threads.

For each message (queue.TaskMessage) `Worker.run` beats first (the heartbeat key, refreshed every
`heartbeat_interval`, living `heartbeat_timeout`), then reads the run from the shared store,
resolves its pipeline variables and checks its source out on this machine, under this worker's
own `workspace_dir` (once per run and worker: the tasks of one run on one worker share the
checkout), and runs the task with flowplan.executor.run.task's TaskRunner, which commits every
step's start, logs and finish to the store as they happen. A thread watches the store meanwhile:
a run canceled from anywhere sets the task's cancel flag, and the running step's process group
gets SIGTERM, then SIGKILL after the grace period, as on a driver. The final status is pushed to
the dispatch's answer key.

Sensitive variables are stored only as digests, so a worker does not have their values: a task
that needs one fails on the worker (see docs/configuration.md, "celery executor").
"""

from __future__ import annotations

import json
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from flowplan.executor.distributed.queue import (TaskMessage, beat_key, celery_app, done_key,
                                                 redis_client, require_broker)
from flowplan.executor.run.environment import RunValues
from flowplan.executor.run.scheduler import Drive
from flowplan.executor.run.task import TaskRunner
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.values import is_sensitive_marker

ANSWER_SECONDS = 3600          # how long an answer nobody collected stays in Redis


class Heartbeat:
    """Sets `key` with a time to live every `interval` seconds until stopped."""

    def __init__(self, client: Any, key: str, interval: float, ttl: float, text: str) -> None:
        self.client, self.key, self.interval, self.ttl, self.text = (client, key, interval,
                                                                     ttl, text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="flowplan-heartbeat",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._set()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.client.delete(self.key)
        except Exception:  # noqa: BLE001 - the key expires by itself
            pass

    def _set(self) -> None:
        try:
            self.client.set(self.key, self.text, px=max(1, int(self.ttl * 1000)))
        except Exception:  # noqa: BLE001 - a broker outage: the next beat tries again
            pass

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self._set()


class Worker:
    """What one `flowplan worker` process serves tasks with: the store, this machine's settings
    (where workspaces go) and the broker."""

    def __init__(self, store: Any, settings: ExecutorSettings) -> None:
        self.store = store
        self.settings = settings
        self.broker = require_broker(settings.broker)
        self.redis = redis_client(self.broker)
        self.identity = f"{socket.gethostname()} pid {os.getpid()}"
        self._run_locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def app(self) -> Any:
        return celery_app(self.broker, self.run)

    def run(self, payload: dict[str, Any]) -> str:
        """Run the task a message names; its final status (also pushed to the answer key)."""
        message = TaskMessage.of(payload)
        with Heartbeat(self.redis, beat_key(message.token), message.heartbeat_interval,
                       message.heartbeat_timeout, self.identity):
            status = self._run(message)
        self.redis.rpush(done_key(message.token), json.dumps({"status": status.value}))
        self.redis.expire(done_key(message.token), ANSWER_SECONDS)
        return status.value

    def _run(self, message: TaskMessage) -> Status:
        with self._run_lock(message.run_id):
            run = self.store.get_run(message.run_id)
            record = next(t for t in self.store.task_runs(run.id) if t.id == message.task_run_id)
            plain = {name: value for name, value in (run.variables or {}).items()
                     if not is_sensitive_marker(value)}
            drive = Drive(self.store, self.settings, run, RunValues.of(plain))
            error = drive.prepare_remote()
        try:
            if error is not None:
                drive.close_task(record, Status.FAILED, error)
                return Status.FAILED
            if drive.canceled():
                drive.close_task(record, Status.CANCELED, drive.cancel_reason or "canceled")
                return Status.CANCELED
            stages = run.definition.get("stages") or {}
            definition = dict((stages.get(message.stage) or {}).get("tasks", {})
                              .get(message.task) or {})
            definition["retries"] = message.retries
            steps = [s for s in self.store.step_runs(run.id, latest=True)
                     if s.task_run_id == record.id]
            runner = TaskRunner(drive.task_context(), message.stage, message.task, definition,
                                record, steps)
            with _watching_cancel(drive):
                return runner.run()
        finally:
            drive.writer.close()

    @contextmanager
    def _run_lock(self, run_id: int) -> Iterator[None]:
        """One checkout of a run at a time on this worker (its tasks share it)."""
        with self._locks_lock:
            lock = self._run_locks.setdefault(run_id, threading.Lock())
        with lock:
            yield


@contextmanager
def _watching_cancel(drive: Drive) -> Iterator[None]:
    """Poll the store for the run's cancel while the task runs (Drive.canceled sets the flag
    the step types watch)."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(drive.settings.poll_interval):
            try:
                if drive.canceled():
                    return
            except Exception:  # noqa: BLE001 - the store's outage: look again
                continue

    watcher = threading.Thread(target=watch, name="flowplan-cancel-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def serve(directory: Path | str, queue: str, concurrency: int) -> None:
    """Serve `queue` from the config in `directory` (its `store`, `broker` and `workspace_dir`)
    until stopped (SIGTERM or Ctrl-C end it after the running tasks finish, as Celery does)."""
    from flowplan.engine import load_config
    from flowplan.store import Store

    config = load_config(Path(directory))
    store = Store.open(config.settings.get("store") or "sqlite:///.flowplan/flowplan.db",
                       config.directory)
    settings = ExecutorSettings.from_config(config.directory, config.settings)
    worker = Worker(store, settings)
    app = worker.app()
    name = f"flowplan-{queue}@{socket.gethostname()}-{os.getpid()}"
    app.worker_main(["worker", "--queues", queue, "--concurrency", str(concurrency),
                     "--pool", "threads", "--hostname", name, "--without-gossip",
                     "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"])
