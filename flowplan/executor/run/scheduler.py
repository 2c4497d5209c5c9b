"""Driving a run: one process takes the run, goes through its stages in order and runs each
stage's tasks in parallel, until the run finishes, waits for a person, or is canceled.

`Drive` claims the run in the store (its pid and host; a run another live process drives is
refused), opens the way to the run's directory (closed again at the end when steps run as a `run_as`
user, see step_process/step_user.py), resolves the pipeline variables, checks the source out once
(source.py), then for each stage in order:

- a stage whose tasks are all finished (an earlier drive ran it) counts with its result;
- a manual stage nobody continued yet makes the run `waiting`; a rejected one fails the run;
- otherwise its tasks run on a thread pool (`parallelism`: the run option, else the pipeline's,
  capped by the settings), each as soon as the tasks it `needs` passed; a task whose need failed
  is skipped (reason "upstream"). Which tasks those are is readiness.py's pure `readiness()`.
  A task waiting at an approval step does not stop the others.

A stage's result is the worst of its tasks' (status.worst_of, allowed failures counted as
succeeded); a failed stage skips the later ones. While tasks run, the drive polls the store every
`poll_interval`: a run canceled from elsewhere sets the cancel flag (running steps get SIGTERM,
then SIGKILL after the grace period), and new approvals wake the tasks that wait for them. At the
end the drive records the run's status and lets go of it.

Running one task is flowplan.executor.run.task's; the public calls are flowplan.executor.service's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy.exc import OperationalError

from flowplan import processes
from flowplan.config.pipeline import DEFINITION_VERSION
from flowplan.executor import events
from flowplan.executor.run.approval import REJECTED, ApprovalRule, decided_by
from flowplan.executor.run.environment import RunValues, env_text, runtime_context, step_environment
from flowplan.executor.run.deploys import ROLLBACK_OF
from flowplan.executor.run.gates import (GATE_STEP_TYPES, continue_commands, pending_gates, stage_decisions,
                                     stage_untouched)
from flowplan.executor.run.layout import RunLayout
from flowplan.executor.run.readiness import Finished, readiness
from flowplan.executor.run.source import SourceError, check_out, credentials_for
from flowplan.executor.run.task import TaskContext, TaskRunner, has_deferred
from flowplan.executor.secrets import KEY_VARIABLES as SECRET_KEY_VARIABLES
from flowplan.executor.secrets import operator_key_texts
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status, counted, run_result, worst_of
from flowplan.executor.step_process import step_user
from flowplan.executor.step_process.logs import RunLogWriter
from flowplan.executor.step_process.masking import Masker
from flowplan.executor.step_type import RunInfo, SecretMissing
from flowplan.executor.targets import RunTargets
from flowplan.store import RunHeld, RunRecord, StepRunRecord, TaskRunRecord
from flowplan.store.database import StoreBusy
from flowplan.store.schema import utc_now

HOST = socket.gethostname()


def process_alive(pid: int, host: str | None, start_time: int | None = None,
                  boot: str | None = None) -> bool:
    """Whether process `pid` on `host`, started `start_time` ticks after boot `boot`, still
    runs (another host's processes are assumed to). A pid the system has since given to another
    process (another start time, or another boot) is not it; without a recorded start time
    (a run recorded before flowplan kept it) a live pid reads as alive, which errs on the safe
    side (no second driver)."""
    if host is not None and host != HOST:
        return True
    return processes.process_gone(pid, start_time, boot) is None


def driver_alive(run: RunRecord) -> bool:
    """Whether the process recorded as driving `run` still runs."""
    return run.pid is not None and process_alive(run.pid, run.host, run.pid_start_time,
                                                 run.boot_id)


def driven_here(run: RunRecord) -> bool:
    """Whether this very process is the one recorded as driving `run` (the same pid of an
    earlier process, reused, is not)."""
    if run.pid != os.getpid() or run.host not in (None, HOST):
        return False
    return run.pid_start_time is None or \
        run.pid_start_time == processes.this_process().start_time


_DRIVING: set[int] = set()              # ids of the runs a thread of this process drives now
_DRIVING_LOCK = threading.Lock()


def driving_now(run_id: int) -> bool:
    """Whether a thread of this process is driving run `run_id` at this moment. A server drives
    many runs, each on a thread of its own, and is the recorded driver (`driven_here`) of runs it
    only created too; this tells the two apart."""
    with _DRIVING_LOCK:
        return run_id in _DRIVING


@contextlib.contextmanager
def _driving(run: RunRecord) -> Iterator[None]:
    """Mark `run` as driven by this thread; RunHeld when another thread here drives it."""
    with _DRIVING_LOCK:
        if run.id in _DRIVING:
            raise RunHeld(os.getpid(), HOST)
        _DRIVING.add(run.id)
    try:
        yield
    finally:
        with _DRIVING_LOCK:
            _DRIVING.discard(run.id)


# why a worker stopped a task: the run was marked `interrupted` (its driving process died)
DRIVER_GONE = "interrupted: the process driving the run is gone"


@dataclass(frozen=True)
class DriveResult:
    status: Status
    error: str | None
    gates: tuple[events.Gate, ...] = ()
    commands: tuple[str, ...] = ()


class Drive:
    """One process driving one run. Build it, call `run()` once."""

    def __init__(self, store: Any, settings: ExecutorSettings, run: RunRecord,
                 values: RunValues, on_event: events.EventSink = events.ignore, *,
                 continued: bool = False,
                 resources: dict[str, dict[str, Any]] | None = None,
                 targets: RunTargets | None = None, dispatcher: Any = None) -> None:
        self.store = store
        # None: tasks run on this process's threads (TaskRunner); else an object whose
        # `run_task(drive, stage, name, definition, record)` runs one elsewhere and returns its
        # status (flowplan.executor.distributed.dispatch)
        self.dispatcher = dispatcher
        self.remote = False           # this drive only serves one task on a worker
        self.settings = settings
        self.run_record = run
        self.run_id = run.id
        self.ref = run.ref
        self.definition = run.definition
        self.values = values
        self.on_event = on_event
        self.wants_log_events = on_event is not events.ignore
        self.continued = continued
        self.resources = resources or {}
        self.targets = targets or RunTargets()
        self.layout = RunLayout(settings, run.pipeline, run.number, run.team)
        self.cancel = threading.Event()
        self.cancel_reason: str | None = None
        self.watched = False          # a RunWatch keeps `cancel` fresh (flowplan.executor.run.watch)
        self.allowed_failures = False      # a task of this drive failed, allowed to
        self._emit_lock = threading.Lock()
        self._outputs_lock = threading.Lock()
        self.event_error: BaseException | None = None
        self.step_outputs: dict[str, dict[str, dict[str, str]]] = {}
        self.source_dir: Path | None = None
        self.pipeline_env: dict[str, str] = {}
        self.pipeline_variables: dict[str, Any] = {}    # run.variables, once resolved
        self.operator_env = dict(settings.environ if settings.environ is not None
                                 else os.environ)
        self.user = step_user.step_user(settings, self.operator_env)   # RunAsRefused
        # steps never see the operator's key (nor where it is): with it and the store, every
        # secret opens. A step running as flowplan's user can still find it (its parent's
        # /proc/PID/environ, the key file), so the key is masked like any secret.
        self.base_env = {k: v for k, v in self.operator_env.items()
                         if k not in SECRET_KEY_VARIABLES}
        if self.user is not None:
            self.base_env.update(self.user.environment())
        self._use_masker([*values.secret_texts(), *operator_key_texts(self.operator_env)])
        self.run_info = _run_info(run)
        self.writer: RunLogWriter | None = None
        options = run.options or {}
        wanted = options.get("parallelism") or self.definition.get("parallelism") or 4
        self.parallelism = max(1, min(int(wanted), settings.parallelism))

    # -- shared with task runners ---------------------------------------------------------------

    def emit(self, event: object) -> None:
        if self.on_event is events.ignore or self.event_error is not None:
            return
        if getattr(event, "error", None):      # as the store records it
            event = dataclasses.replace(event, error=self.mask(event.error))
        with self._emit_lock:
            try:
                self.on_event(event)
            except BaseException as exc:  # noqa: BLE001 - reported after the run is recorded
                self.event_error = exc

    def canceled(self) -> bool:
        """Whether the run was canceled (here, or in the store by another process); on a
        worker, also whether its driver died (the run marked `interrupted`)."""
        if not self.cancel.is_set():
            self.observe(self.store.run_status(self.run_id))
        return self.cancel.is_set()

    def stopping(self) -> bool:
        """Whether the run is to stop, as last seen: the flag a RunWatch keeps fresh, for a
        watched drive; else `canceled()`, which asks the store."""
        return self.cancel.is_set() if self.watched else self.canceled()

    def observe(self, status: str | None) -> bool:
        """`canceled()`, given the run's status as just read from the store."""
        if not self.cancel.is_set():
            if status == Status.CANCELED:
                self.cancel_reason = self.store.get_run(self.run_id).error or "canceled"
                self.cancel.set()
            elif status == Status.INTERRUPTED and self.remote:
                self.cancel_reason = DRIVER_GONE
                self.cancel.set()
        return self.cancel.is_set()

    def _use_masker(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s]
        self.masker = Masker(self.secrets)
        self.log_mask = self.masker.mask if self.masker else None
        # the store masks them in every error, reason and comment it records
        self.store.mask_sensitive(self.secrets)

    def mask(self, text: str) -> str:
        return self.masker.mask(text)

    def mask_value(self, value: Any) -> Any:
        return self.masker.mask_value(value)

    def load_outputs(self) -> None:
        """The outputs of the run's succeeded steps, as recorded: what a continued run's
        earlier steps, or on a worker the tasks that ran elsewhere, left for later ones."""
        for step in self.store.step_runs(self.run_id, latest=True):
            if step.status == Status.SUCCEEDED and step.outputs:
                self.add_outputs(step.task, step.step, step.outputs)

    def add_outputs(self, task: str, step: str, outputs: dict[str, str]) -> None:
        with self._outputs_lock:
            self.step_outputs.setdefault(task, {})[step] = dict(outputs)

    def _context(self, workspace: Path) -> Any:
        with self._outputs_lock:
            outputs = {task: {step: dict(values) for step, values in steps.items()}
                       for task, steps in self.step_outputs.items()}
        return runtime_context(self.values, self.run_info, outputs, workspace,
                               self.settings.base_dir, self.resources, self.pipeline_variables)

    def resolve(self, value: Any, workspace: Path) -> Any:
        from flowplan.config.runtime import resolve

        return resolve(value, self._context(workspace))

    def render_script(self, value: Any, workspace: Path) -> str:
        from flowplan.config.runtime import render_script

        return render_script(value, self._context(workspace))

    def environment(self, workspace: Path, step_env: dict[str, Any],
                    output_file: Path) -> dict[str, str]:
        return step_environment(self.base_env, self.pipeline_env, self.run_info, workspace,
                                step_env, output_file)

    def run_environment(self, step_env: dict[str, Any]) -> dict[str, str]:
        """What a step hands to processes on other machines (deploy scripts): the pipeline
        variables, the run's FLOWPLAN_* facts and the step's `env`, without this machine's
        environment, workspace or output file."""
        env = step_environment({}, self.pipeline_env, self.run_info, Path("."), step_env,
                               Path("."))
        for local in ("FLOWPLAN_WORKSPACE", "FLOWPLAN_OUTPUT"):
            env.pop(local, None)
        return env

    def open_secret(self, name: str) -> str:
        """The clear text of the secret a step names (a run variable, else a store secret, as
        for sources), masked from now on in errors and what the store records: the whole text
        and, for `user:password`, the password alone. SecretMissing when there is none or it
        cannot be opened."""
        if not name:
            raise SecretMissing("a secret name is empty")
        if self.values.variables.get(name) is None and self.store.get_secret_token(name) is None:
            raise SecretMissing(f"secret {name!r} is neither a variable of the run nor a secret "
                                "in the store (flowplan secret set)")
        try:
            text = credentials_for(name, self.values, self.store, self.operator_env) or ""
        except SourceError as exc:
            raise SecretMissing(f"secret {name!r}: {exc}") from None
        _, colon, password = text.partition(":")
        with self._outputs_lock:
            self._use_masker([*self.secrets, text, *([password] if colon and password else [])])
        return text

    def _note_allowed_failure(self) -> None:
        self.allowed_failures = True

    def _task_context(self) -> TaskContext:
        """What a task runner uses of this drive (once the source is checked out)."""
        return TaskContext(
            ref=self.ref, run_id=self.run_id, run_info=self.run_info,
            caches=self.definition.get("caches") or {}, store=self.store,
            settings=self.settings, layout=self.layout, writer=self.writer, user=self.user,
            source_dir=self.source_dir, cancel=self.cancel, log_mask=self.log_mask,
            wants_log_events=self.wants_log_events, emit=self.emit, canceled=self.canceled,
            resolve=self.resolve, render_script=self.render_script,
            environment=self.environment, mask=self.mask, mask_value=self.mask_value,
            add_outputs=self.add_outputs, note_allowed_failure=self._note_allowed_failure,
            targets=self.targets, run_environment=self.run_environment,
            open_secret=self.open_secret)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> DriveResult:
        """Drive the run until it finishes, waits or is canceled; raises store.RunHeld when
        another live process, or another thread of this one, drives it."""
        with _driving(self.run_record):
            return self._run()

    def _run(self) -> DriveResult:
        started = time.monotonic()
        now = utc_now()
        me = processes.this_process()
        self.run_record = self.store.claim_run(
            self.run_id, me.pid, HOST, holder_alive=driver_alive,
            unless_status=(Status.CANCELED.value,), status=Status.RUNNING.value,
            finished_at=None, error=None, started_at=self.run_record.started_at or now,
            pid_start_time=me.start_time, boot_id=me.boot_id)
        run = self.run_record
        if run.status == Status.CANCELED:            # canceled before it started
            self.emit(events.RunFinished(self.ref, Status.CANCELED, 0.0, run.error))
            return DriveResult(Status.CANCELED, run.error)
        self.emit(events.RunStarted(self.ref, run.id, run.pipeline, run.number, run.trigger,
                                    run.user, self.continued))
        self.writer = RunLogWriter(self.store, self.settings.log_flush_interval)
        result = DriveResult(Status.FAILED, "flowplan stopped before the run finished")
        try:
            step_user.prepare_run_directories(self.settings, self.layout.run_dir, self.user)
            with ThreadPoolExecutor(max_workers=self.parallelism,
                                    thread_name_prefix="flowplan-task") as self.pool:
                try:
                    status, error = self._prepare()
                    if status is None:
                        status, error = self._stages()
                except KeyboardInterrupt as exc:   # outside the stages' wait: stop the same way
                    self._interrupted(exc)
                    status, error = Status.CANCELED, self.cancel_reason
            if self.cancel.is_set():               # what an interruption left open
                self._close_open_tasks(Status.CANCELED, self.cancel_reason or "canceled")
            result = DriveResult(status, error)
        except BaseException as exc:
            result = DriveResult(Status.FAILED, f"flowplan error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.writer.close()
            if self.user is not None:
                step_user.close_run_directory(self.layout.run_dir)
            result = self._record_end(result, started)
        if self.event_error is not None:
            raise self.event_error
        return result

    def _record_end(self, result: DriveResult, started: float) -> DriveResult:
        status, error = result.status, result.error
        if self.cancel.is_set():
            status, error = Status.CANCELED, self.cancel_reason
        fields: dict[str, Any] = {"status": status.value}
        if status != Status.WAITING:
            fields.update(finished_at=utc_now(), error=self.mask(error) if error else None)
        final = self.store.release_run(self.run_id, os.getpid(),
                                       unless_status=(Status.CANCELED.value,), **fields)
        if final == Status.CANCELED and status != Status.CANCELED:   # canceled from elsewhere
            status, error = Status.CANCELED, self.store.get_run(self.run_id).error
        if status == Status.WAITING:
            run = self.store.get_run(self.run_id)
            gates = pending_gates(self.store, run)
            result = DriveResult(status, None, tuple(g.event() for g in gates),
                                 continue_commands(self.ref, gates))
            self.emit(events.RunWaiting(self.ref, result.gates, result.commands))
            return result
        warnings: tuple[str, ...] = ()
        if self.allowed_failures or self.continued:
            warnings = tuple(f"{t.stage}/{t.task}: {t.error}" for t in self.store.task_runs(
                self.run_id) if t.failure_allowed)
        seconds = time.monotonic() - started
        if self.continued and self.run_record.started_at is not None:
            # a continued run reports its whole duration, as `flowplan runs` does
            seconds = (utc_now() - self.run_record.started_at).total_seconds()
        self.emit(events.RunFinished(self.ref, status, seconds,
                                     self.mask(error) if error else None, warnings))
        return DriveResult(status, error)

    # -- before the stages ----------------------------------------------------------------------

    def _prepare(self) -> tuple[Status | None, str | None]:
        """Pipeline variables and source; (None, None) when the stages may start."""
        source_id = (self.run_record.options or {}).get(ROLLBACK_OF)
        if isinstance(source_id, int):
            # a rollback: the steps it repeats read what the run it goes back to built
            mine = {(task, step) for stage in (self.definition.get("stages") or {}).values()
                    for task, body in (stage.get("tasks") or {}).items()
                    for step in (body.get("steps") or {})}
            for step in self.store.step_runs(source_id, latest=True):
                if step.status == Status.SUCCEEDED and step.outputs \
                        and (step.task, step.step) not in mine:
                    self.step_outputs.setdefault(step.task, {})[step.step] = dict(step.outputs)
        if self.continued or self.remote:
            self.load_outputs()
        secrets = list(self.secrets)
        if self.definition.get("version", 1) < DEFINITION_VERSION and has_deferred(self.definition):
            return self._fail_before_stages(
                "this run's definition was recorded by an older flowplan, whose run-time values "
                "this version reads differently: start a new run (after `flowplan apply`)")
        try:
            variables = self.definition.get("variables") or {}
            if isinstance(variables, dict) and "$deferred" in variables:
                # the whole map is one run-time expression; values derived from sensitive
                # variables are masked through those variables' values
                variables = self.resolve(variables, self.layout.run_dir)
                if not isinstance(variables, dict):
                    raise ValueError(f"must be a map, got {type(variables).__name__}")
            for name, value in variables.items():
                if has_deferred(value):
                    resolved = self.resolve(value, self.layout.run_dir)
                    if isinstance(value, dict) and value.get("sensitive"):
                        secrets.append(env_text(resolved))
                    value = resolved
                self.pipeline_variables[str(name)] = value
            for name, value in self.pipeline_variables.items():
                self.pipeline_env[name] = env_text(value)
        except Exception as exc:  # noqa: BLE001 - RuntimeEvaluationError and friends
            self._use_masker(secrets)
            return self._fail_before_stages(f"pipeline variables: {exc}")
        source = self.definition.get("source")
        if source:
            try:
                if has_deferred(source):
                    source = self.resolve(source, self.layout.run_dir)
                credentials = credentials_for(source.get("credentials"), self.values,
                                              self.store, self.operator_env)
                if credentials:
                    secrets.append(credentials)
                self._use_masker(secrets)
                self._check_out(dict(source), credentials)
            except SourceError as exc:
                self._use_masker(secrets)
                return self._fail_before_stages(f"source: {exc}")
        self._use_masker(secrets)
        return None, None

    def _check_out(self, source: dict[str, Any], credentials: str | None) -> None:
        directory = self.layout.source_dir
        run = self.run_record
        if run.commit_short and directory.is_dir():
            self.source_dir = directory
            return
        source.pop("credentials", None)
        result = check_out(source, directory, branch=run.branch, commit=run.commit,
                           credentials=credentials, on_line=lambda line: None)
        step_user.close_source(directory)
        self.store.update_run(self.run_id, commit=result.commit, commit_short=result.short,
                              branch=result.branch or run.branch,
                              commit_author=f"{result.author} <{result.author_email}>",
                              commit_message=self.mask(result.message))
        self.run_record = self.store.get_run(self.run_id)
        self.run_info = _run_info(self.run_record)
        self.source_dir = directory
        self.emit(events.SourceCheckedOut(self.ref, result.commit, result.short,
                                          result.branch or run.branch, result.author,
                                          self.mask(result.message)))

    def prepare_remote(self) -> str | None:
        """On a worker running one task of this run: its variables resolved and its source
        checked out here (at the commit its driver recorded), a log writer opened; the error
        when that fails, which fails that task only (the driver decides about the others).
        Close `writer` when done."""
        self.remote = True
        self.writer = RunLogWriter(self.store, self.settings.log_flush_interval)
        step_user.prepare_run_directories(self.settings, self.layout.run_dir, self.user)
        _status, error = self._prepare()
        return error

    def task_context(self) -> TaskContext:
        """The context a task runner uses (after `prepare_remote` on a worker)."""
        return self._task_context()

    def _fail_before_stages(self, error: str) -> tuple[Status, str]:
        if self.remote:
            return Status.FAILED, error
        self._skip_tasks(self.store.task_runs(self.run_id), "upstream", error)
        return Status.FAILED, error

    # -- stages ---------------------------------------------------------------------------------

    def _stages(self) -> tuple[Status, str | None]:
        stages = sorted((self.definition.get("stages") or {}).items(),
                        key=lambda item: item[1].get("index", 0))
        tasks = self.store.task_runs(self.run_id)
        steps = self.store.step_runs(self.run_id, latest=True)
        results: list[Status] = []
        for index, (stage, definition) in enumerate(stages):
            records = [t for t in tasks if t.stage == stage]
            if records and all(Status(t.status).finished for t in records):
                result = self._stage_result(definition, records)
                results.append(result)
                if not result.passed:
                    later = {s for s, _d in stages[index + 1:]}
                    self._skip_tasks([t for t in tasks if t.stage in later], "upstream",
                                     f"not run: stage {stage} {result.value}")
                    return result, self._first_error(records)
                continue
            if definition.get("trigger") == "manual" and stage_untouched(records):
                verdict, rejection = ApprovalRule.anyone().verdict(stage_decisions(
                    self.run_record, self.store.approvals(self.run_id), stage))
                if verdict == REJECTED:
                    note = f": {rejection.comment}" if rejection.comment else ""
                    error = f"stage {stage} was rejected by {decided_by(rejection)}{note}"
                    later = [t for t in tasks if t.stage in {s for s, _d in stages[index:]}]
                    self._skip_tasks(later, "rejected", error)
                    return Status.FAILED, error
                if verdict is None:
                    return Status.WAITING, None
            self.emit(events.StageStarted(self.ref, stage))
            clock = time.monotonic()
            result, error = self._run_stage(stage, definition, records, steps)
            if result != Status.WAITING:
                self.emit(events.StageFinished(self.ref, stage, result,
                                               time.monotonic() - clock))
            results.append(result)
            if result == Status.WAITING:
                return result, None
            if not result.passed:
                later = {s for s, _d in stages[index + 1:]}
                self._skip_tasks([t for t in tasks if t.stage in later], "upstream",
                                 f"not run: stage {stage} {result.value}")
                return result, error
        return run_result(results), None

    @staticmethod
    def _stage_result(definition: dict[str, Any], records: list[TaskRunRecord]) -> Status:
        return worst_of(counted(t.status, t.failure_allowed) for t in records)

    @staticmethod
    def _first_error(records: list[TaskRunRecord]) -> str | None:
        for record in records:
            if record.status in (Status.FAILED, Status.CANCELED, Status.INTERRUPTED) \
                    and not record.failure_allowed:
                return f"task {record.stage}/{record.task} {record.status}: {record.error}"
        return None

    def _run_stage(self, stage: str, definition: dict[str, Any], records: list[TaskRunRecord],
                   steps: list[StepRunRecord]) -> tuple[Status, str | None]:
        task_defs = definition.get("tasks") or {}
        record_of = {t.task: t for t in records}
        needs = {name: task_defs.get(name, {}).get("needs") or [] for name in record_of}
        state = {t.task: Status(t.status) for t in records}
        finished = {t.task: Finished(Status(t.status), t.failure_allowed, t.skip_reason)
                    for t in records if state[t.task].finished}
        queue = [t.task for t in records if state[t.task] in (Status.QUEUED, Status.WAITING)]
        running: dict[Future, str] = {}
        has_gates = any(step.get("type") in GATE_STEP_TYPES
                        for name in queue for step in
                        (task_defs.get(name, {}).get("steps") or {}).values())
        approvals_seen = self.store.approval_count(self.run_id) if has_gates else 0
        last_poll = time.monotonic()
        context = self._task_context()
        while True:
            if self.cancel.is_set():
                for name in queue:
                    self._close_task(record_of[name], Status.CANCELED, "canceled", None)
                    state[name] = Status.CANCELED
                queue = []
            decided = readiness(needs, queue, finished, len(running), self.parallelism)
            for skip in decided.skipped:
                name = skip.task
                queue.remove(name)
                self._close_task(record_of[name], Status.SKIPPED, skip.error, "upstream")
                state[name] = Status.SKIPPED
                finished[name] = Finished(Status.SKIPPED, skip_reason="upstream")
                self.emit(events.TaskFinished(self.ref, stage, name, Status.SKIPPED, 0.0,
                                              record_of[name].attempt, error=skip.error))
            for name in decided.ready:
                queue.remove(name)
                running[self.pool.submit(self._task_call(
                    context, stage, name, task_defs.get(name, {}), record_of[name],
                    [s for s in steps if s.task_run_id == record_of[name].id]))] = name
            if not running:
                break
            try:
                done, _ = wait(running, timeout=self.settings.poll_interval,
                               return_when=FIRST_COMPLETED)
            except KeyboardInterrupt as exc:
                self._interrupted(exc)
                continue
            for future in done:
                name = running.pop(future)
                try:
                    status = future.result()
                except Exception as exc:  # noqa: BLE001 - a bug in one task fails that task
                    status = Status.FAILED
                    self._close_task(record_of[name], status,
                                     f"flowplan error: {type(exc).__name__}: {exc}", None)
                state[name] = status
                if status == Status.WAITING:
                    continue
                finished[name] = Finished(status,
                                          bool(task_defs.get(name, {}).get("allow_failure")))
            if time.monotonic() - last_poll >= self.settings.poll_interval:
                last_poll = time.monotonic()
                try:
                    approvals_seen, steps = self._poll(stage, state, running, queue, record_of,
                                                       approvals_seen, steps)
                except (OperationalError, StoreBusy):
                    pass        # the database restarting, or busy: ask again at the next poll
        return self._stage_outcome(stage, task_defs, record_of, state)

    def _poll(self, stage: str, state: dict[str, Status], running: dict[Future, str],
              queue: list[str], record_of: dict[str, TaskRunRecord], approvals_seen: int,
              steps: list[StepRunRecord]) -> tuple[int, list[StepRunRecord]]:
        """What the stage loop asks the store every `poll_interval`: whether the run was
        canceled, and for tasks waiting on an approval, whether one was decided (those go back
        to the queue). Returns the approvals counted and the steps, fresh if read again."""
        self.stopping()
        waiting = [n for n, s in state.items() if s == Status.WAITING
                   and n not in running.values() and n not in queue]
        if waiting and running:
            count = self.store.approval_count(self.run_id)
            if count != approvals_seen:
                fresh = {t.task: t for t in self.store.task_runs(self.run_id)
                         if t.stage == stage}
                steps = self.store.step_runs(self.run_id, latest=True)
                for name in waiting:
                    record_of[name] = fresh[name]
                    queue.append(name)
                approvals_seen = count
        return approvals_seen, steps

    def _task_call(self, context: TaskContext, stage: str, name: str,
                   definition: dict[str, Any], record: TaskRunRecord,
                   steps: list[StepRunRecord]) -> Any:
        """What a pool thread calls to run one task, returning its status."""
        if self.dispatcher is not None:
            return lambda: self.dispatcher.run_task(self, stage, name, definition, record)
        return TaskRunner(context, stage, name, definition, record, steps).run

    def _stage_outcome(self, stage: str, task_defs: dict[str, Any],
                       record_of: dict[str, TaskRunRecord],
                       state: dict[str, Status]) -> tuple[Status, str | None]:
        results = [counted(status, status == Status.FAILED
                           and bool(task_defs.get(name, {}).get("allow_failure")))
                   for name, status in state.items()]
        result = worst_of(results)
        waiting = [n for n, s in state.items() if s == Status.WAITING]
        if waiting and result != Status.WAITING:   # something failed: nobody needs to decide
            for name in waiting:
                self._close_task(record_of[name], Status.SKIPPED,
                                 f"not continued: stage {stage} {result.value}", "upstream")
        error = None
        fresh = {t.task: t for t in self.store.task_runs(self.run_id) if t.stage == stage} \
            if not result.passed else {}
        for name, status in fresh and state.items():
            if counted(status, fresh[name].failure_allowed) in (Status.FAILED,
                                                                 Status.CANCELED):
                error = f"task {stage}/{name} {status.value}: {fresh[name].error}"
                break
        return result, error

    def close_task(self, record: TaskRunRecord, status: Status, error: str | None,
                   reason: str | None = None) -> None:
        """Set a task that will not run (further) and its unfinished steps to `status` (a
        dispatcher closing a task no worker finished)."""
        self._close_task(record, status, error, reason)

    def close_steps(self, record: TaskRunRecord, status: Status, error: str) -> None:
        """Set the task's running steps to `status` with `error`, leaving the task open (a
        task whose worker was lost, sent again)."""
        now = utc_now()
        self.writer.commit(steps=[
            (s.id, {"status": status.value, "finished_at": now, "error": self.mask(error)})
            for s in self.store.step_runs(self.run_id, latest=True)
            if s.task_run_id == record.id and s.status in (Status.QUEUED, Status.RUNNING)])

    def _close_task(self, record: TaskRunRecord, status: Status, error: str | None,
                    reason: str | None) -> None:
        """Set a task that will not run (further) and its unfinished steps to `status`."""
        now = utc_now()
        steps = [(s.id, {"status": status.value, "finished_at": now})
                 for s in self.store.step_runs(self.run_id, latest=True)
                 if s.task_run_id == record.id and s.status in (Status.QUEUED, Status.WAITING,
                                                                Status.RUNNING)]
        self.writer.commit(steps=steps, tasks=[(record.id, {
            "status": status.value, "error": self.mask(error) if error else error,
            "skip_reason": reason, "finished_at": now})])

    def _interrupted(self, interrupt: KeyboardInterrupt) -> None:
        """Ctrl-C, or SIGTERM where the CLI turns it into KeyboardInterrupt("SIGTERM"): cancel
        the run; running steps get SIGTERM, then SIGKILL after the grace period."""
        if not self.cancel.is_set():
            self.cancel_reason = f"canceled: interrupted ({str(interrupt) or 'Ctrl-C'})"
            self.cancel.set()

    def _close_open_tasks(self, status: Status, error: str) -> None:
        """Close the tasks still queued, running or waiting once no task of this drive runs."""
        for record in self.store.task_runs(self.run_id):
            if record.status in (Status.QUEUED, Status.RUNNING, Status.WAITING):
                self._close_task(record, status, error, None)

    def _skip_tasks(self, records: list[TaskRunRecord], reason: str, error: str) -> None:
        for record in records:
            if record.status in (Status.QUEUED, Status.WAITING):
                self._close_task(record, Status.SKIPPED, error, reason)


def _run_info(run: RunRecord) -> RunInfo:
    return RunInfo(run.id, run.pipeline, run.number, run.trigger, run.user, run.branch,
                   run.commit, run.commit_short, _source_url(run.definition))


def _source_url(definition: Any) -> str | None:
    """The URL of the run's source as the definition gives it, without any user or password in
    it; None when it has none or the run completes it (a deferred value)."""
    source = definition.get("source") if isinstance(definition, dict) else None
    url = source.get("url") if isinstance(source, dict) else None
    if not isinstance(url, str) or not url:
        return None
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url

