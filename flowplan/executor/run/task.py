"""Running one task of a run: `when`, attempts (`retries`), the task `timeout`, its workspace,
caches, and its steps in order.

Each attempt starts in a fresh workspace (`<run dir>/<stage>/<task>`): emptied, filled with a copy
of the run's checkout when the pipeline has a source, given to the `run_as` user if there is one
(flowplan.executor.step_process.step_user), then the caches restored. Steps run one after the other,
their processes as that user; the first that fails ends the attempt. A failed attempt is followed by
another while `retries` allow (not after cancel). A task whose `manual_approval` step waits stays
`waiting` with its workspace kept; continuing the run later resumes it at that step.

Recording: a step's start is committed before its process starts, and its finish (with its last
log lines) is committed together with the next step's start, or with the task's finish: every
transition is in the store before the next thing happens, at one transaction per step. Events are
sent after the commit they report. Process groups a step leaves behind are killed when the task
ends.

A task sees its drive only through `TaskContext`, which the drive builds; deciding which tasks
run when is the scheduler's (flowplan.executor.run.scheduler).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flowplan import processes
from flowplan.config.partial import holds_deferred
from flowplan.config.schema import parse_duration
from flowplan.executor import events
from flowplan.executor.errors import PathEscape
from flowplan.executor.process import kill_group, steps_run_as
from flowplan.executor.run import caches
from flowplan.executor.run.deploys import ROLLBACK_OF, DeployLedger
from flowplan.executor.run.layout import RunLayout
from flowplan.executor.run.source import copy_into
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user
from flowplan.executor.step_process.logs import RunLogWriter, StepLog
from flowplan.executor.targets import RunTargets
from flowplan.executor.step_type import (ArtifactFile, PreviousSuccess, RunInfo, SecretMissing,
                                         StepContext, StepResult, step_type_names)
from flowplan.executor.step_type import step_type as find_step_type
from flowplan.store import StepPlan, StepRunRecord, TaskRunRecord
from flowplan.store.schema import utc_now

has_deferred = holds_deferred        # what the run completes: flowplan.config.partial


def _describe_validation(error: ValidationError) -> str:
    problems = []
    for problem in error.errors()[:5]:
        where = ".".join(str(part) for part in problem.get("loc", ()))
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def _no_secret(name: str) -> str:
    raise SecretMissing(f"secret {name!r}: this run has no secrets to open")


@dataclass
class _Pending:
    """Transitions to commit with the next one (a finished step waits for the next start)."""

    steps: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    tasks: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    events: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class TaskContext:
    """What a task uses of the drive that runs it (the scheduler's `Drive` builds one), and
    nothing else: the run, where its files go, the store and log writer, the run's values and
    environment, masking, cancel, and the calls a task reports back through."""

    ref: str                          # the run's reference, for events
    run_id: int
    run_info: RunInfo
    caches: dict[str, Any]            # the definition's `cache` blocks
    store: Any
    settings: ExecutorSettings
    layout: RunLayout
    writer: RunLogWriter
    user: step_user.StepUser | None   # `run_as`, else None
    source_dir: Path | None           # the run's checkout, copied into each workspace
    cancel: threading.Event
    log_mask: Callable[[str], str] | None
    wants_log_events: bool
    emit: Callable[[object], None]
    canceled: Callable[[], bool]      # asks the store too
    resolve: Callable[[Any, Path], Any]
    render_script: Callable[[Any, Path], str]
    environment: Callable[[Path, dict[str, Any], Path], dict[str, str]]
    mask: Callable[[str], str]
    mask_value: Callable[[Any], Any]
    add_outputs: Callable[[str, str, dict[str, str]], None]
    note_allowed_failure: Callable[[], None]   # a task failed, and was allowed to
    targets: RunTargets = RunTargets()         # deployment groups and provider blocks
    run_environment: Callable[[dict[str, Any]], dict[str, str]] = lambda step_env: {}
    open_secret: Callable[[str], str] = lambda name: _no_secret(name)
    # on a celery worker whose files move through the server: a RemoteFiles
    # (flowplan.executor.distributed.remote_files); None: this machine's directories hold them
    files: Any = None


class TaskRunner:
    """One task of one drive. `run()` returns its status at the end of the drive."""

    def __init__(self, context: TaskContext, stage: str, name: str, definition: dict[str, Any],
                 record: TaskRunRecord, steps: list[StepRunRecord]) -> None:
        self.context = context
        self.stage = stage
        self.name = name
        self.definition = definition
        self.record = record
        self.step_records = {s.step: s for s in steps if s.attempt == record.attempt}
        self.step_defs = sorted(((n, d) for n, d in (definition.get("steps") or {}).items()),
                                key=lambda item: item[1].get("index", 0))
        self.plans = [StepPlan(n, str(d.get("type", "")), i)
                      for i, (n, d) in enumerate(self.step_defs)]
        self.pending = _Pending()
        self.process_groups: list[processes.ProcessIdentity] = []
        self.logs: dict[int, StepLog] = {}
        self.remote = (context.files.for_task(context.run_id, record.id)
                       if context.files is not None else None)

    # -- the task -------------------------------------------------------------------------------

    def run(self) -> Status:
        context = self.context
        if self.record.status == Status.WAITING:
            return self._continue_waiting()
        started = time.monotonic()
        try:
            when = self._when()
        except Exception as exc:  # noqa: BLE001 - a bad condition fails the task, not the run
            return self._finish_without_steps(Status.FAILED, f"when: {exc}", started)
        if when is False:
            return self._finish_without_steps(Status.SKIPPED, None, started, reason="when")

        retries = int(self.definition.get("retries") or 0)
        attempt = self.record.attempt
        if any(s.status != Status.QUEUED for s in self.step_records.values()):
            attempt += 1
        for round_ in range(retries + 1):
            status, error = self._attempt(attempt, started)
            retry = (status == Status.FAILED and round_ < retries
                     and not context.cancel.is_set())
            if status == Status.WAITING:
                return status
            final = self._finish(status, error, started, attempt, will_retry=retry)
            if not retry:
                return final
            attempt += 1
            self.step_records = {}
        raise AssertionError("unreachable")

    def _when(self) -> Any:
        when = self.definition.get("when")
        if has_deferred(when):
            workspace = self.context.layout.task_workspace(self.stage, self.name)
            when = self.context.resolve(when, workspace)
        if when is not None and not isinstance(when, bool):
            raise ValueError(f"must be true or false, got {type(when).__name__} {when!r}")
        return when

    def _attempt(self, attempt: int, started: float) -> tuple[Status, str | None]:
        context = self.context
        try:
            workspace = context.layout.task_workspace(self.stage, self.name)
        except PathEscape as exc:
            workspace = None
            path_error = str(exc)
        fields = dict(status=Status.RUNNING.value, started_at=utc_now(), finished_at=None,
                      error=None, failure_allowed=False, skip_reason=None,
                      workspace=str(workspace) if workspace else None)
        started_event = events.TaskStarted(context.ref, self.stage, self.name, attempt,
                                           str(workspace or ""))
        ready = {name: s.id for name, s in self.step_records.items()
                 if s.attempt == attempt and s.status == Status.QUEUED}
        self.attempt = attempt
        if attempt == self.record.attempt and set(ready) == {p.step for p in self.plans}:
            # the first attempt's rows exist: the task's start is committed with its first
            # step's start (or with its finish), one transaction fewer per task
            self.step_ids = ready
            self.pending.tasks.append((self.record.id, fields))
            self.pending.events.append(started_event)
        else:
            self.step_ids = context.store.start_task_attempt(self.record.id, attempt,
                                                             self.plans, **fields)
            context.emit(started_event)
        if workspace is None:
            return Status.FAILED, path_error
        try:
            deadline, timeout_text = self._deadline(workspace)
        except Exception as exc:  # noqa: BLE001 - RuntimeEvaluationError, not a duration
            self._commit_pending()
            return Status.FAILED, f"timeout: {exc}"
        private = step_user.private_dir(context.user)
        try:
            if workspace.exists():
                shutil.rmtree(workspace)
            step_user.make_workspace(workspace)
            first_log = self._step_log(self.plans[0].step) if self.plans else None
            say = (lambda text: first_log.say(text, time.time())) if first_log else (
                lambda text: None)
            if context.source_dir is not None:
                copy_into(context.source_dir, workspace)
                say(f"workspace: {workspace} (source at {context.run_info.commit_short})")
            if context.user is not None:
                step_user.give(workspace, context.user)
            try:
                saves = self._restore_caches(workspace, say)
            except Exception as exc:  # noqa: BLE001 - key expressions, damaged archives
                return Status.FAILED, f"cache: {context.mask(str(exc))}"
            status, error = self._steps(0, workspace, private, deadline, timeout_text)
            if status == Status.SUCCEEDED and saves:
                last = self._step_log(self.plans[-1].step)
                caches.save(saves, context.store, context.layout, workspace,
                            lambda text: last.say(text, time.time()), context.user, self.remote)
            return status, error     # the last step's finish is committed with the task's
        except PathEscape as exc:
            return Status.FAILED, str(exc)
        except BaseException:
            self._commit_pending()   # what happened so far, before the error goes up
            raise
        finally:
            shutil.rmtree(private, ignore_errors=True)
            self._kill_leftovers()

    def _restore_caches(self, workspace: Path, say) -> list[caches.CacheSave]:
        definitions = self.context.caches
        if not definitions:
            return []
        return caches.restore(definitions, lambda value: self.context.resolve(value, workspace),
                              self.context.store, self.context.layout, workspace, say,
                              self.context.user, self.remote)

    def _deadline(self, workspace: Path) -> tuple[float | None, str | None]:
        """When the attempt must end, from the task's `timeout` (resolved now when it is a
        run-time value); ValueError says what is wrong with it."""
        timeout = self.definition.get("timeout")
        if has_deferred(timeout):
            timeout = self.context.resolve(timeout, workspace)
        if not timeout:
            return None, None
        if not isinstance(timeout, str):
            raise ValueError(f"must be a duration such as 30s or 10m, got "
                             f"{type(timeout).__name__} {timeout!r}")
        return time.monotonic() + parse_duration(timeout), f"the task's timeout of {timeout}"

    def _continue_waiting(self) -> Status:
        """Resume a task whose step waits for a decision, at that step."""
        started = time.monotonic()
        self.attempt = self.record.attempt
        self.step_ids = {s.step: s.id for s in self.step_records.values()}
        position = next((i for i, (n, _d) in enumerate(self.step_defs)
                         if self.step_records.get(n) is not None
                         and self.step_records[n].status == Status.WAITING), None)
        if position is None:
            return self._finish(Status.FAILED, "no waiting step found", started, self.attempt)
        workspace = Path(self.record.workspace or self.context.layout.task_workspace(
            self.stage, self.name))
        if not workspace.is_dir():
            try:
                workspace = self._fresh_workspace(self.step_defs[position][0])
            except Exception as exc:  # noqa: BLE001 - PathEscape, cache key expressions
                return self._finish(Status.FAILED, f"workspace: {self.context.mask(str(exc))}",
                                    started, self.attempt)
        self.context.emit(events.TaskStarted(self.context.ref, self.stage, self.name,
                                             self.attempt, str(workspace)))
        try:
            deadline, timeout_text = self._deadline(workspace)
        except Exception as exc:  # noqa: BLE001 - RuntimeEvaluationError, not a duration
            return self._finish(Status.FAILED, f"timeout: {exc}", started, self.attempt)
        private = step_user.private_dir(self.context.user)
        try:
            status, error = self._steps(position, workspace, private, deadline, timeout_text)
        except BaseException:
            self._commit_pending()
            raise
        finally:
            shutil.rmtree(private, ignore_errors=True)
            self._kill_leftovers()
        if status == Status.WAITING:
            return status
        return self._finish(status, error, started, self.attempt)

    def _fresh_workspace(self, step: str) -> Path:
        """A workspace made here for a task that waited in one that is not on this machine (a
        celery worker on another machine ran its first steps): the source copied in and the
        caches restored, as for a new attempt; the step's log says what is missing."""
        context = self.context
        workspace = context.layout.task_workspace(self.stage, self.name)
        if workspace.exists():
            shutil.rmtree(workspace)
        step_user.make_workspace(workspace)
        log = self._step_log(step)
        log.say(f"workspace: the task waited in {self.record.workspace}, which is not on this "
                f"machine; it continues in a fresh workspace here, {workspace}, without the files "
                "its earlier steps made (archive what later steps need before the approval and "
                "download_artifact it after)", time.time())
        if context.source_dir is not None:
            copy_into(context.source_dir, workspace)
        if context.user is not None:
            step_user.give(workspace, context.user)
        self._restore_caches(workspace, lambda text: log.say(text, time.time()))
        self.pending.tasks.append((self.record.id, {"workspace": str(workspace)}))
        return workspace

    # -- steps ----------------------------------------------------------------------------------

    def _steps(self, start: int, workspace: Path, private: Path, deadline: float | None,
               timeout_text: str | None) -> tuple[Status, str | None]:
        for position in range(start, len(self.step_defs)):
            name, definition = self.step_defs[position]
            status, error = self._step(name, definition, workspace, private, deadline,
                                       timeout_text)
            if status == Status.WAITING:
                return status, None
            if status != Status.SUCCEEDED:
                return status, f"step {name}: {error}" if error else f"step {name} {status}"
            if self.context.cancel.is_set():
                return Status.CANCELED, "canceled"
        return Status.SUCCEEDED, None

    def _step_log(self, step: str) -> StepLog:
        """The log of the step's current run (one per step run, continuing its numbering)."""
        step_run_id = self.step_ids[step]
        log = self.logs.get(step_run_id)
        if log is not None:
            return log
        context = self.context

        def on_lines(stream: str, first: int, at: float, lines: tuple[str, ...]) -> None:
            context.emit(events.LogLines(context.ref, self.stage, self.name, step, stream, first,
                                         at, lines))

        log = StepLog(context.writer, context.run_id, step_run_id, context.log_mask,
                      context.settings.logs, on_lines if context.wants_log_events else None)
        record = self.step_records.get(step)
        if record is not None and record.id == step_run_id and record.log_lines:
            log.resume(record.log_lines, record.log_bytes, record.log_dropped)
        self.logs[step_run_id] = log
        return log

    def _step(self, name: str, definition: dict[str, Any], workspace: Path, private: Path,
              deadline: float | None, timeout_text: str | None) -> tuple[Status, str | None]:
        context = self.context
        step_run_id = self.step_ids[name]
        record = self.step_records.get(name)
        waiting_before = record is not None and record.status == Status.WAITING \
            and record.id == step_run_id
        kind = str(definition.get("type", ""))
        log = self._step_log(name)
        now = utc_now()
        first_started_at = record.started_at if waiting_before and record.started_at else now
        if not waiting_before:
            self.pending.steps.append((step_run_id, {"status": Status.RUNNING.value,
                                                     "started_at": now}))
            self.pending.events.append(events.StepStarted(context.ref, self.stage, self.name,
                                                          name, kind, self.attempt))
            self._commit()
        clock = time.monotonic()

        result = self._run_step_type(name, kind, definition, workspace, private, deadline,
                                     timeout_text, log, step_run_id, first_started_at)
        seconds = time.monotonic() - clock
        if result.status == Status.FAILED and context.canceled():
            # canceled from elsewhere: the SIGTERM may have reached the step before the news
            result = StepResult(Status.CANCELED, result.exit_code, "canceled")
        if result.status == Status.WAITING:
            fields = {"status": Status.WAITING.value, **log.counters()}
            if result.summary:          # where it paused: the pause gate's description
                fields["summary"] = context.mask_value(dict(result.summary))
            self.pending.steps.append((step_run_id, fields))
            self.pending.events.append(events.StepFinished(
                context.ref, self.stage, self.name, name, Status.WAITING, seconds))
            self._commit(tasks=[(self.record.id, {"status": Status.WAITING.value})])
            return Status.WAITING, None
        if result.artifacts and self.remote is not None:
            result = self._upload_artifacts(result)
        error = context.mask(result.error) if result.error else None
        outputs = dict(result.outputs)
        if outputs:
            context.add_outputs(self.name, name, outputs)
        for artifact in result.artifacts:
            context.store.put_artifact(context.run_id, artifact.name, path=str(artifact.path),
                                       size=artifact.size, sha256=artifact.sha256,
                                       step_run_id=step_run_id)
        fields = {"status": result.status.value, "finished_at": utc_now(),
                  "exit_code": result.exit_code, "error": error,
                  "outputs": context.mask_value(outputs) if outputs else None, **log.counters()}
        if result.summary:
            fields["summary"] = context.mask_value(dict(result.summary))
        self.pending.steps.append((step_run_id, fields))
        self.pending.events.append(events.StepFinished(
            context.ref, self.stage, self.name, name, result.status, seconds, result.exit_code,
            error))
        return result.status, error

    def _run_step_type(self, name: str, kind: str, definition: dict[str, Any], workspace: Path,
                       private: Path, deadline: float | None, timeout_text: str | None,
                       log: StepLog, step_run_id: int, first_started_at) -> StepResult:
        context = self.context
        try:
            step_type = find_step_type(kind)
        except Exception as exc:  # noqa: BLE001 - a broken plugin fails its own steps only
            return StepResult(Status.FAILED, error=f"step type {kind!r} cannot be loaded: {exc}")
        if step_type is None:
            known = ", ".join(step_type_names())
            return StepResult(Status.FAILED, error=f"unknown step type {kind!r} (known: {known})")
        raw = {k: v for k, v in definition.items() if k not in ("index", "type")}
        try:
            attributes = self._resolve(raw, step_type, workspace)
            config = step_type.config_model.model_validate({"type": kind, **attributes})
        except ValidationError as exc:
            return StepResult(Status.FAILED, error=f"invalid attributes: "
                                                   f"{_describe_validation(exc)}")
        except Exception as exc:  # noqa: BLE001 - RuntimeEvaluationError and friends
            return StepResult(Status.FAILED, error=str(exc))
        plain = config.model_dump()
        output_file = private / f"{name}.output"
        environment = context.environment(workspace, plain.get("env") or {}, output_file)
        approvals = ()
        if kind == "manual_approval":
            approvals = tuple(a for a in context.store.approvals(context.run_id)
                              if a.step_run_id == step_run_id)

        def on_process(pid: int) -> None:
            leader = processes.identify(pid)
            self.process_groups.append(leader)
            context.writer.note_pid(step_run_id, pid, leader.start_time, leader.boot_id)

        step_context = StepContext(
            run=context.run_info, stage=self.stage, task=self.name, step=name,
            attempt=self.attempt, step_run_id=step_run_id, config=config, attributes=plain,
            workspace=workspace, environment=environment, output_file=output_file,
            private_dir=private, deadline=deadline, timeout_text=timeout_text,
            cancel=context.cancel, kill_grace=context.settings.kill_grace, log=log,
            layout=context.layout, first_started_at=first_started_at, approvals=approvals,
            role_members=context.store.role_members, on_process=on_process, user=context.user,
            tools=context.settings.tools,
            previous_success=lambda: self._previous_success(name), artifact=self._artifact,
            rollback_of=lambda: self._rollback_of(name),
            deployment_group=context.targets.deployment_group,
            provider_block=context.targets.provider_block,
            applied_resource=context.targets.applied_resource, secret=context.open_secret,
            mask=context.log_mask or (lambda text: text),
            artifact_url=context.targets.artifact_url,
            remote_environment=context.run_environment(plain.get("env") or {}),
            deploys=DeployLedger(context.store, context.run_id, step_run_id, self.stage,
                                 self.name, name))
        try:
            with steps_run_as(context.user):
                return step_type.run(step_context)
        except PathEscape as exc:
            return StepResult(Status.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken step type fails its step only
            return StepResult(Status.FAILED, error=f"step type {kind} failed: "
                                                   f"{type(exc).__name__}: {exc}")

    def _upload_artifacts(self, result: StepResult) -> StepResult:
        """The step's artifacts sent to the server, as the server keeps them (the paths the
        store records); a failed upload fails the step."""
        from flowplan.executor.distributed.remote_files import RemoteFileError

        kept = []
        for artifact in result.artifacts:
            try:
                path = self.remote.upload_artifact(artifact.name, Path(artifact.path),
                                                   artifact.sha256)
            except RemoteFileError as exc:
                return dataclasses.replace(result, status=Status.FAILED, error=str(exc),
                                           artifacts=())
            kept.append(dataclasses.replace(artifact, path=Path(path)))
        return dataclasses.replace(result, artifacts=tuple(kept))

    def _artifact(self, name: str) -> ArtifactFile | None:
        record = self.context.store.get_artifact(self.context.run_id, name)
        if record is None:
            return None
        path = Path(record.path)
        if self.remote is not None:     # fetched from the server into this machine's layout
            path = self.remote.fetch_artifact(name, self.context.layout.artifact_path(name),
                                              record.sha256)
        return ArtifactFile(record.name, path, record.size, record.sha256)

    def _previous_success(self, step: str) -> PreviousSuccess | None:
        run = self.context.run_info
        found = self.context.store.last_succeeded_step(run.pipeline, self.stage, self.name, step,
                                                       before_number=run.number)
        if found is None:
            return None
        earlier, step_run = found
        return PreviousSuccess(earlier.number, earlier.commit, step_run.outputs or {})

    def _rollback_of(self, step: str) -> PreviousSuccess | None:
        """In a rollback run: the run it goes back to, with this step's outputs there."""
        store = self.context.store
        source_id = (store.get_run(self.context.run_id).options or {}).get(ROLLBACK_OF)
        source = store.get_run(source_id) if isinstance(source_id, int) else None
        if source is None:
            return None
        found = next((s for s in store.step_runs(source.id, latest=True)
                      if (s.stage, s.task, s.step) == (self.stage, self.name, step)
                      and s.status == Status.SUCCEEDED), None)
        if found is None:
            return None
        return PreviousSuccess(source.number, source.commit, found.outputs or {})

    def _resolve(self, raw: dict[str, Any], step_type: Any, workspace: Path) -> dict[str, Any]:
        if not has_deferred(raw):
            return raw
        scripts = getattr(step_type, "script_attributes", ())
        resolved = {}
        for key, value in raw.items():
            if not has_deferred(value):
                resolved[key] = value
            elif key in scripts:
                resolved[key] = self.context.render_script(value, workspace)
            else:
                resolved[key] = self.context.resolve(value, workspace)
        return resolved

    # -- recording ------------------------------------------------------------------------------

    def _commit_pending(self) -> None:
        if self.pending.steps or self.pending.tasks:
            self._commit()

    def _commit(self, tasks: list[tuple[int, dict[str, Any]]] | None = None) -> None:
        pending, self.pending = self.pending, _Pending()
        self.context.writer.commit(steps=pending.steps, tasks=[*pending.tasks, *(tasks or ())])
        for event in pending.events:
            self.context.emit(event)

    def _finish(self, status: Status, error: str | None, started: float, attempt: int,
                will_retry: bool = False) -> Status:
        allowed = status == Status.FAILED and bool(self.definition.get("allow_failure"))
        error = self.context.mask(error) if error else error
        fields: dict[str, Any] = {"status": status.value, "error": error,
                                  "failure_allowed": allowed and not will_retry}
        if not will_retry:
            fields["finished_at"] = utc_now()
        self._commit(tasks=[(self.record.id, fields)])
        if allowed and not will_retry:
            self.context.note_allowed_failure()
        self.context.emit(events.TaskFinished(
            self.context.ref, self.stage, self.name, status, time.monotonic() - started, attempt,
            failure_allowed=allowed and not will_retry, will_retry=will_retry, error=error))
        return status

    def _finish_without_steps(self, status: Status, error: str | None, started: float,
                              reason: str | None = None) -> Status:
        now = utc_now()
        error = self.context.mask(error) if error else error
        skipped = [(s.id, {"status": status.value, "finished_at": now})
                   for s in self.step_records.values() if s.status == Status.QUEUED]
        self.context.writer.commit(steps=skipped, tasks=[(self.record.id, {
            "status": status.value, "error": error, "skip_reason": reason,
            "started_at": now, "finished_at": now,
            "failure_allowed": status == Status.FAILED
            and bool(self.definition.get("allow_failure"))})])
        self.context.emit(events.TaskFinished(self.context.ref, self.stage, self.name, status,
                                              time.monotonic() - started, self.record.attempt,
                                              error=error))
        return status

    def _kill_leftovers(self) -> None:
        for leader in self.process_groups:
            if processes.group_is_still(leader.pid, leader.start_time, leader.boot_id):
                kill_group(leader.pid)
        self.process_groups.clear()
