"""The worker's side of the celery executor: `flowplan worker --queue NAME [--concurrency N]`
serves one queue, running up to N tasks at once on threads.

For each message (queue.TaskMessage) `Worker.run` beats first (the heartbeat key, refreshed
every `heartbeat_interval` by the worker's one heartbeat thread, living `heartbeat_timeout`),
then reads the run from the shared store, resolves its pipeline variables and checks its source
out on this machine, under this worker's own `workspace_dir` (once per stage of a run and
worker: the tasks of one stage on one worker share the prepared run, which lingers a moment for
the next one), reads the task and its steps with the run's status in one query, and runs the
task with flowplan.executor.run.task's TaskRunner, which commits every step's start, logs and
finish to the store as they happen. One thread of the worker watches the store meanwhile, for
all the runs prepared here in one query: a run canceled from anywhere sets the task's cancel
flag, and the running step's process group gets SIGTERM, then SIGKILL after the grace period, as
on a driver. The final status is pushed to the dispatch's answer key.

A run whose driving process died is marked `interrupted` (RunService.mark_interrupted, at the
next flowplan command on the driver's machine). A worker then starts none of its tasks, and stops
a running one as on cancel, recording it `interrupted` rather than `canceled`, so that
`flowplan resume` (or `retry`) sends it again; nothing it records overwrites the run's status.


With `flowplan { server { url = ... } }` and a worker token in `$FLOWPLAN_WORKER_TOKEN`, the
worker shares nothing with the driver but the store, the broker and the server: it claims each
task run in the store while it runs it (the claim is what its token may reach on the server),
and the task's artifacts and caches move through the server's worker routes
(remote_files.RemoteFiles, flowplan.server.worker_api) instead of this machine's directories.
Without them, `artifacts_dir` and `cache_dir` must be shared with the other machines.

The run's sensitive variables are read from the store, where the driver put them encrypted
with the operator key (run_secrets), and opened with this machine's key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from flowplan.executor.distributed import run_secrets
from flowplan.executor.distributed.queue import (TaskMessage, beat_key, celery_app, done_key,
                                                 redis_client, require_broker)
from flowplan.executor.distributed.remote_files import RemoteFiles
from flowplan.executor.distributed.worker_tokens import TOKEN_VARIABLE, WorkerTokens
from flowplan.executor.run.environment import RunValues
from flowplan.executor.run.scheduler import DRIVER_GONE, Drive
from flowplan.executor.run.task import TaskRunner
from flowplan.executor.run.watch import RunWatch
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.values import is_sensitive_marker

ANSWER_SECONDS = 3600          # how long an answer nobody collected stays in Redis
LINGER_SECONDS = 2.0           # how long a prepared run waits for its stage's next task here


class Heartbeats:
    """The heartbeat keys of the tasks running in this worker, each set with a time to live
    every `interval` seconds while its task runs, by one thread for all of them (one pipelined
    round trip per refresh), not a thread each: the first time as soon as the task starts (the
    task does not wait for that round trip), then every `interval`."""

    def __init__(self, client: Any, text: str) -> None:
        self.client, self.text = client, text
        self._beating: dict[str, list[float]] = {}    # key -> [interval, ttl, next due]
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def beat(self, key: str, interval: float, ttl: float) -> Iterator[None]:
        with self._changed:
            self._beating[key] = [interval, ttl, 0.0]       # due now
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="flowplan-heartbeat",
                                                daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                del self._beating[key]

    def _set(self, keys: list[tuple[str, float]]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, ttl in keys:
                pipe.set(key, self.text, px=max(1, int(ttl * 1000)))
            pipe.execute()
        except Exception:  # noqa: BLE001 - a broker outage: the next beat tries again
            pass

    def _beat(self) -> None:
        while True:
            with self._changed:
                while not self._beating:
                    self._changed.wait()
                now = time.monotonic()
                due = [(key, beat[1]) for key, beat in self._beating.items() if beat[2] <= now]
                for key, _ttl in due:
                    self._beating[key][2] = now + self._beating[key][0]
            if due:
                self._set(due)
            with self._changed:
                if self._beating:
                    self._changed.wait(max(0.01, min(beat[2] for beat in self._beating.values())
                                           - time.monotonic()))


class Worker:
    """What one `flowplan worker` process serves tasks with: the store, this machine's settings
    (where workspaces go) and the broker."""

    def __init__(self, store: Any, settings: ExecutorSettings, files: RemoteFiles | None = None,
                 name: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.broker = require_broker(settings.broker)
        self.redis = redis_client(self.broker)
        self.identity = f"{socket.gethostname()} pid {os.getpid()}"
        self.heartbeats = Heartbeats(self.redis, self.identity)
        self.files = files              # None: artifacts and caches on this machine's disk
        self.name = name                # the worker its token names, with `files`
        # the runs prepared here, by run and stage: in use by tasks, or lingering a moment
        self._runs: dict[tuple[int, str], _PreparedRun] = {}
        self._run_locks: dict[tuple[int, str], threading.Lock] = {}   # a few bytes per stage
        self._locks_lock = threading.Lock()
        self._watch = RunWatch(store, settings.poll_interval,        # cancel, and lingering
                               lambda: self._close_idle(time.monotonic() - LINGER_SECONDS))

    def app(self) -> Any:
        return celery_app(self.broker, self.run)

    def run(self, payload: dict[str, Any]) -> str:
        """Run the task a message names; its final status (also pushed to the answer key)."""
        message = TaskMessage.of(payload)
        answer: dict[str, str] = {}
        with self.heartbeats.beat(beat_key(message.token), message.heartbeat_interval,
                                  message.heartbeat_timeout):
            try:
                status = self._run(message)
            except Exception as exc:  # noqa: BLE001 - a bug or the store's outage: the driver
                status = Status.FAILED  # records it, rather than waiting for silence
                answer["error"] = (f"flowplan error on the worker ({self.identity}): "
                                   f"{type(exc).__name__}: {exc}")
        answer["status"] = status.value
        # One MULTI/EXEC round trip, the answer before the heartbeat key's removal: a driver
        # that finds neither the answer nor the key counts the worker lost.
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(done_key(message.token), json.dumps(answer))
        pipe.expire(done_key(message.token), ANSWER_SECONDS)
        pipe.delete(beat_key(message.token))
        pipe.execute()
        return status.value

    def _run(self, message: TaskMessage) -> Status:
        prepared = self._take(message.run_id, message.stage)
        try:
            drive = prepared.drive
            status, record, steps = self.store.task_run_view(message.run_id,
                                                             message.task_run_id)
            if record is None:
                raise LookupError(f"run {message.run_id} has no task run {message.task_run_id} "
                                  "in the store this worker reads")
            if drive.observe(status):
                if drive.cancel_reason == DRIVER_GONE:   # `resume` sends it again
                    return Status.INTERRUPTED
                drive.close_task(record, Status.CANCELED, drive.cancel_reason or "canceled")
                return Status.CANCELED
            if prepared.error is not None:
                drive.close_task(record, Status.FAILED, prepared.error)
                return Status.FAILED
            stages = drive.definition.get("stages") or {}
            definition = dict((stages.get(message.stage) or {}).get("tasks", {})
                              .get(message.task) or {})
            definition["retries"] = message.retries
            if definition.get("needs"):    # tasks of this stage it needs may have finished
                drive.load_outputs()       # since the stage was prepared here
            if self.files is not None:
                self.store.claim_task(record.id, message.run_id, self.name)
            try:
                status = TaskRunner(prepared.context, message.stage, message.task, definition,
                                    record, steps).run()
            finally:
                if self.files is not None:
                    self.store.release_task(record.id, self.name)
            if drive.cancel_reason == DRIVER_GONE:     # stopped: `resume` runs it again
                drive.close_task(record, Status.INTERRUPTED, DRIVER_GONE)
                return Status.INTERRUPTED
            return status
        finally:
            self._release(prepared)

    def _take(self, run_id: int, stage: str) -> _PreparedRun:
        """The stage of the run as this worker prepared it, shared by its tasks running here,
        as a driver's tasks share its drive: one checkout and log writer. It is kept for
        LINGER_SECONDS after its last task here ends, for the next task of that stage (the
        tasks of the stages before had all finished when it was prepared: their outputs are
        in it), unless the run was stopped meanwhile."""
        key = (run_id, stage)
        with self._run_lock(key):
            with self._locks_lock:
                prepared = self._runs.get(key)
                if prepared is not None and (prepared.users or not prepared.stale()):
                    prepared.users += 1
                    return prepared
                stale = self._runs.pop(key, None)
            if stale is not None:
                self._watch.remove(stale.drive)
                stale.close()
            prepared = self._prepare(run_id)
            with self._locks_lock:
                self._runs[key] = prepared
            self._watch.add(prepared.drive)
            return prepared

    def _release(self, prepared: _PreparedRun) -> None:
        with self._locks_lock:
            prepared.users -= 1
            prepared.idle_since = time.monotonic()

    def _close_idle(self, before: float) -> None:
        """Close the prepared runs no task used since `before`."""
        with self._locks_lock:
            idle = [key for key, run in self._runs.items()
                    if run.users == 0 and run.idle_since <= before]
            closing = [self._runs.pop(key) for key in idle]
        for run in closing:
            self._watch.remove(run.drive)
            run.close()

    def _prepare(self, run_id: int) -> _PreparedRun:
        run = self.store.get_run(run_id)
        plain = {name: value for name, value in (run.variables or {}).items()
                 if not is_sensitive_marker(value)}
        try:
            sensitive = run_secrets.unseal(self.store, run_id, self.settings.environ)
        except run_secrets.RunSecretsError as exc:
            sensitive, opening = {}, str(exc)
        else:
            opening = None
        # the worker's store reads every team's runs by id; the run's drive is its team's
        drive = Drive(self.store.for_team(run.team), self.settings, run,
                      RunValues.of({**plain, **sensitive}, sensitive))
        try:
            error = drive.prepare_remote()
        except BaseException:
            if drive.writer is not None:
                drive.writer.close()
            raise
        error = opening or error
        context = None
        if error is None:
            context = dataclasses.replace(drive.task_context(), files=self.files)
        return _PreparedRun(drive, error, context)

    @contextmanager
    def _run_lock(self, key: tuple[int, str]) -> Iterator[None]:
        """One preparation of a run's stage at a time on this worker (its tasks share it)."""
        with self._locks_lock:
            lock = self._run_locks.setdefault(key, threading.Lock())
        with lock:
            yield


def remote_files_of(store: Any, settings: dict[str, Any],
                    environ: Any) -> tuple[RemoteFiles | None, str | None]:
    """How this worker moves files: through the server at `server { url }` with the token in
    $FLOWPLAN_WORKER_TOKEN (both given), or on this machine's disk (neither given); the
    worker's name. WorkerSetupError when one is given without the other or the token is not a
    worker token the store knows."""
    url = (settings.get("server") or {}).get("url")
    token = environ.get(TOKEN_VARIABLE) or ""
    if not url and not token:
        return None, None
    if not url:
        raise WorkerSetupError(f"{TOKEN_VARIABLE} is set but the config names no server: set "
                               'flowplan { server { url = "http://HOST:PORT" } } to the server '
                               "this worker moves artifacts and caches through")
    if not token:
        raise WorkerSetupError(f"the config names the server {url}, which this worker moves "
                               f"artifacts and caches through: set {TOKEN_VARIABLE} to a worker "
                               "token (`flowplan token create --worker NAME` prints one)")
    name = WorkerTokens(store).worker_for(token)
    if name is None:
        raise WorkerSetupError(f"{TOKEN_VARIABLE} is not a worker token this store knows (it "
                               "was revoked, mistyped, or is a user's API token): make one with "
                               "`flowplan token create --worker NAME`")
    return RemoteFiles(url, token), name


class WorkerSetupError(Exception):
    """The worker cannot start as configured; the message says what to set."""


class _PreparedRun:
    def __init__(self, drive: Drive, error: str | None, context: Any) -> None:
        self.drive, self.error, self.context = drive, error, context
        self.users = 1
        self.idle_since = float("inf")

    def stale(self) -> bool:
        """Not to be taken again once unused: its preparation failed (the next task tries
        afresh), or its run was stopped (`resume` starts afresh)."""
        return self.error is not None or self.drive.cancel.is_set()

    def close(self) -> None:
        self.drive.writer.close()


def serve(directory: Path | str, queue: str, concurrency: int) -> None:
    """Serve `queue` from the config in `directory` (its `store`, `broker` and `workspace_dir`)
    until stopped (SIGTERM or Ctrl-C end it after the running tasks finish, as Celery does)."""
    from flowplan.diagnostics import DiagnosticsError
    from flowplan.engine import load_config
    from flowplan.store import Store

    config = load_config(Path(directory))
    problems = [d for d in config.diagnostics
                if d.address == "flowplan" and d.severity.value == "error"]
    if problems:
        raise DiagnosticsError(problems, config.texts)
    store = Store.open(config.settings.get("store") or "sqlite:///.flowplan/flowplan.db",
                       config.directory, team=None)     # every team's tasks (Worker._prepare)
    settings = ExecutorSettings.from_config(config.directory, config.settings)
    files, name = remote_files_of(store, config.settings, os.environ)
    worker = Worker(store, settings, files, name)
    app = worker.app()
    name = f"flowplan-{queue}@{socket.gethostname()}-{os.getpid()}"
    app.worker_main(["worker", "--queues", queue, "--concurrency", str(concurrency),
                     "--pool", "threads", "--hostname", name, "--without-gossip",
                     "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"])
