"""The run service: the calls the CLI (and later the dashboard) make about runs.

    service = RunService(store, ExecutorSettings.from_config(config.directory, config.settings))
    outcome = service.start("app", definition, variables=..., on_event=render)

Calls that run something (`start`, `approve`, `reject`, `retry`, `skip`, `resume`, `drive`) drive
the run in the calling thread until it finishes, waits for a person or is canceled, and return a
`RunOutcome` (status SUCCEEDED, FAILED, CANCELED or WAITING; RUNNING when another live process
drives the run and will pick the change up). Progress goes to `on_event` as the frozen events of
flowplan.executor.events. Refusals are RunServiceError subclasses with a message for the user.

Variables: `variables` are the `var.*` values of the config (a value wrapped in
flowplan.values.Sensitive, or named in `sensitive`, is masked everywhere and stored as `***`). A
run keeps its non-sensitive values; a call that continues a run should pass the sensitive ones
again (load the config as for `run`): a sensitive value is never stored.

Roles for manual_approval steps are the store's (`Store.grant_role`). Secrets are stored
encrypted with the operator's key (FLOWPLAN_SECRET_KEY_FILE or FLOWPLAN_SECRET_KEY, `set_secret`).

With `run_as` in the settings, every call that would run something first checks that steps can
run as that user (flowplan.executor.step_process.step_user: flowplan is root, the user exists) and
refuses with RunAsRefused before it records anything.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan import processes
from flowplan.executor import events
from flowplan.executor.errors import (ApprovalRefused, NothingToContinue, RunBusy, RunNotFound,
                                      RunServiceError)
from flowplan.executor.events import Gate
from flowplan.executor.process import kill_group
from flowplan.executor.run.approval import deadline_of
from flowplan.executor.run.environment import RunValues
from flowplan.executor.run.deploys import ROLLBACK_OF
from flowplan.executor.run.gates import (GATE_FLOOR, PAUSING_STEP_TYPES, UNDOING_STEP_TYPES,
                                        PendingGate, pending_gates)
from flowplan.executor.run.refs import RunRef
from flowplan.executor.run.scheduler import HOST, Drive, driven_here, driver_alive, driving_now
from flowplan.executor.run.watch import RunWatch
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status, counted, worst_of
from flowplan.executor.targets import RunTargets
from flowplan.executor.step_process import step_user
from flowplan.store import (ApprovalRecord, ArtifactRecord, DeployHostRecord, RunHeld, RunRecord, StepPlan,
                            StepRunRecord, Store, TaskPlan, TaskRunRecord)
from flowplan.store.schema import utc_now

RESETTABLE_SKIPS = ("upstream", "rejected")


@dataclass(frozen=True)
class RunOutcome:
    run: str                          # "pipeline#number"
    run_id: int
    status: Status
    error: str | None = None
    gates: tuple[Gate, ...] = ()      # when WAITING: what it waits for
    commands: tuple[str, ...] = ()    # when WAITING: what to type to continue
    driven_by: str | None = None      # when RUNNING: the process that drives it


@dataclass(frozen=True)
class TaskView:
    record: TaskRunRecord
    steps: tuple[StepRunRecord, ...]          # the current attempt's
    earlier_steps: tuple[StepRunRecord, ...]  # earlier attempts'


@dataclass(frozen=True)
class StageView:
    name: str
    trigger: str
    status: Status
    tasks: tuple[TaskView, ...]


@dataclass(frozen=True)
class RunTree:
    run: RunRecord
    stages: tuple[StageView, ...]
    approvals: tuple[ApprovalRecord, ...]
    artifacts: tuple[ArtifactRecord, ...]
    gates: tuple[Gate, ...]
    deploy_hosts: tuple[DeployHostRecord, ...] = ()   # per host of each deploy step run


@dataclass(frozen=True)
class LogLine:
    run: str
    stage: str
    task: str
    step: str
    attempt: int
    seq: int
    at: float                         # seconds since the epoch
    stream: str                       # stdout, stderr, system
    text: str


def task_plans(definition: Mapping[str, Any]) -> list[TaskPlan]:
    """The tasks and steps of a pipeline definition, in stage and declaration order."""
    plans = []
    stages = sorted((definition.get("stages") or {}).items(),
                    key=lambda item: item[1].get("index", 0))
    for stage_index, (stage, stage_def) in enumerate(stages):
        for position, (task, task_def) in enumerate((stage_def.get("tasks") or {}).items()):
            steps = sorted((task_def.get("steps") or {}).items(),
                           key=lambda item: item[1].get("index", 0))
            plans.append(TaskPlan(stage, stage_index, task, position, tuple(
                StepPlan(name, str(step.get("type", "")), i)
                for i, (name, step) in enumerate(steps))))
    return plans


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class RunService:
    """Starts, continues, stops and describes runs. One per store; safe to share."""

    def __init__(self, store: Store, settings: ExecutorSettings, *,
                 resources: Mapping[str, dict[str, Any]] | None = None,
                 targets: RunTargets | None = None) -> None:
        self.store = store
        self.settings = settings
        self.resources = dict(resources or {})   # state attributes by address, for expressions
        self.targets = targets or RunTargets()   # what deploys reach (clear credentials)
        self._celery: Any = None                 # the celery executor's dispatcher, once made
        self._watch = RunWatch(store, settings.poll_interval)   # for cancel, all drives at once

    # -- starting -------------------------------------------------------------------------------

    def create(self, pipeline: str, definition: Mapping[str, Any], *,
               variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
               branch: str | None = None, commit: str | None = None,
               trigger: str = "manual", user: str | None = None,
               parallelism: int | None = None, origin: str | None = None) -> RunRecord:
        """Record a new queued run of `definition` (a snapshot of it is kept), numbered;
        `origin` says which definition it is ("applied" or "working_copy")."""
        return self.store.create_run(**self.run_request(
            pipeline, definition, variables=variables, sensitive=sensitive, branch=branch,
            commit=commit, trigger=trigger, user=user, parallelism=parallelism, origin=origin))

    def run_request(self, pipeline: str, definition: Mapping[str, Any], *,
                    variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
                    branch: str | None = None, commit: str | None = None,
                    trigger: str = "manual", user: str | None = None,
                    parallelism: int | None = None, origin: str | None = None
                    ) -> dict[str, Any]:
        """What `create` records: the keyword arguments of Store.create_run (a server records
        many at once with Store.accept_deliveries)."""
        if not isinstance(definition, Mapping) or not isinstance(definition.get("stages"),
                                                                 Mapping):
            raise RunServiceError(f"pipeline {pipeline!r} has no stages to run")
        values = RunValues.of(variables, sensitive)
        source = definition.get("source") or {}
        options: dict[str, Any] = {"parallelism": int(parallelism)} if parallelism else {}
        if origin:
            options["definition"] = origin
        me = processes.this_process()
        return dict(
            pipeline=pipeline, trigger=trigger, user=user, definition=dict(definition),
            tasks=task_plans(definition), variables=values.stored(), options=options,
            branch=branch or _plain(source.get("branch")),
            commit=commit or _plain(source.get("commit")), pid=me.pid, host=HOST,
            pid_start_time=me.start_time, boot_id=me.boot_id)

    def start(self, pipeline: str, definition: Mapping[str, Any], *,
              variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
              branch: str | None = None, commit: str | None = None, trigger: str = "manual",
              user: str | None = None, parallelism: int | None = None,
              origin: str | None = None,
              on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Create a run and drive it in the foreground."""
        self._check_run_as()
        run = self.create(pipeline, definition, variables=variables, sensitive=sensitive,
                          branch=branch, commit=commit, trigger=trigger, user=user,
                          parallelism=parallelism, origin=origin)
        return self._drive(run, RunValues.of(variables, sensitive), on_event, continued=False)

    def drive(self, run: str | RunRef, *, variables: Mapping[str, Any] | None = None,
              sensitive: Iterable[str] = (),
              on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Drive a queued run (one `create`d earlier, e.g. by a server) in the foreground."""
        record = self.get(run)
        if Status(record.status) != Status.QUEUED:
            raise NothingToContinue(f"{record.ref} is {record.status}, not queued")
        values = self._values(record, variables, sensitive)
        self._check_run_as()
        return self._continue(record, values, on_event, continued=False)

    # -- decisions ------------------------------------------------------------------------------

    def approve(self, run: str | RunRef, user: str, comment: str | None = None, *,
                task: str | None = None, variables: Mapping[str, Any] | None = None,
                sensitive: Iterable[str] = (), on_event: events.EventSink = events.ignore,
                continue_run: bool = True) -> RunOutcome:
        """Record `user`'s approval of what the run waits for (a manual stage, or approval
        steps they may approve; `task` picks one), then continue the run unless another
        process drives it. ApprovalRefused lists who may approve."""
        return self._decide(run, user, "approve", comment, task, variables, sensitive,
                            on_event, continue_run)

    def reject(self, run: str | RunRef, user: str, comment: str | None = None, *,
               task: str | None = None, variables: Mapping[str, Any] | None = None,
               sensitive: Iterable[str] = (), on_event: events.EventSink = events.ignore,
               continue_run: bool = True) -> RunOutcome:
        """Record a rejection: the approval step fails (a manual stage fails the run)."""
        return self._decide(run, user, "reject", comment, task, variables, sensitive,
                            on_event, continue_run)

    def gates(self, run: str | RunRef) -> list[PendingGate]:
        """What the run waits for, with who may decide."""
        return pending_gates(self.store, self.get(run))

    def _decide(self, ref: str | RunRef, user: str, decision: str, comment: str | None,
                task: str | None, variables, sensitive, on_event,
                continue_run: bool) -> RunOutcome:
        if not user:
            raise ApprovalRefused("a decision needs the name of who makes it")
        run = self.get(ref)
        if Status(run.status).finished:
            raise NothingToContinue(f"{run.ref} is {run.status}: there is nothing to "
                                    f"{decision}")
        gates = pending_gates(self.store, run)
        if task is not None:
            gates = [g for g in gates if g.task == task or (g.task is None and g.stage == task)]
        paused = [g for g in gates if g.kind == "pause"]
        gates = [g for g in gates if g.kind != "pause"]
        if not gates:
            which = f" at task {task}" if task else ""
            if paused:
                raise NothingToContinue(f"{run.ref} is not waiting for a decision{which}: its "
                                        f"deploy is paused (flowplan resume {run.ref})")
            raise NothingToContinue(f"{run.ref} is not waiting for a decision{which} "
                                    f"(status {run.status})")
        allowed = [g for g in gates if g.rule.eligible(user)]
        if not allowed:
            who = "; ".join(f"{g.name}: {g.rule.who()}" for g in gates)
            raise ApprovalRefused(f"{user} may not {decision} {run.ref}. Who may: {who}")
        values = self._values(run, variables, sensitive) if continue_run else None
        if continue_run:
            self._check_run_as()
        # refused (above) before anything is recorded
        earlier = self.store.approvals(run.id)
        recorded = 0
        for gate in allowed:
            if any(a.user == user and a.decision == decision and a.stage == gate.stage
                   and a.task == gate.task and a.step_run_id == gate.step_run_id
                   and a.id > self._floor(run, gate) for a in earlier):
                continue
            self.store.add_approval(run.id, stage=gate.stage, task=gate.task, step=gate.step,
                                    step_run_id=gate.step_run_id, user=user, decision=decision,
                                    comment=comment)
            recorded += 1
        if not recorded:
            raise NothingToContinue(f"{user} already decided ({decision}) on what {run.ref} "
                                    f"waits for")
        if values is None:
            return self._outcome(self.get(run.ref))
        return self._continue(self.get(run.ref), values, on_event)

    @staticmethod
    def _floor(run: RunRecord, gate: PendingGate) -> int:
        if gate.task is not None:
            return 0
        return int((run.options.get(GATE_FLOOR) or {}).get(gate.stage, 0))

    # -- retry, skip, resume, cancel ------------------------------------------------------------

    def retry(self, run: str | RunRef, task: str | None = None, *,
              variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
              on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Run the failed (or canceled, interrupted) tasks again, or only `task`, keeping what
        succeeded; later stages follow. Refused for a run that succeeded."""
        record = self._not_busy(self.get(run))
        self._check_run_as()
        status = Status(record.status)
        if status == Status.SUCCEEDED:
            raise NothingToContinue(f"{record.ref} succeeded: there is nothing to retry")
        if status == Status.WAITING:
            if any(g.kind == "pause" for g in pending_gates(self.store, record)):
                raise NothingToContinue(f"{record.ref} is paused between deploy batches: "
                                        f"flowplan resume {record.ref} (or cancel)")
            raise NothingToContinue(f"{record.ref} is waiting for a decision: "
                                    f"flowplan approve {record.ref} (or reject)")
        tasks = self.store.task_runs(record.id)
        if task is not None:
            target = self._task(record, tasks, task)
            if target.status in (Status.SUCCEEDED, Status.RUNNING):
                raise NothingToContinue(f"task {target.stage}/{target.task} of {record.ref} "
                                        f"{target.status}: nothing to retry")
            reset = [target]
        else:
            reset = [t for t in tasks if (t.status == Status.FAILED and not t.failure_allowed)
                     or t.status in (Status.CANCELED, Status.INTERRUPTED)]
        reset += [t for t in tasks if t.status == Status.SKIPPED
                  and t.skip_reason in RESETTABLE_SKIPS and t not in reset]
        if not reset and not any(t.status == Status.QUEUED for t in tasks):
            raise NothingToContinue(f"{record.ref} has no failed task to retry")
        values = self._values(record, variables, sensitive)    # refused before any change
        self._reopen(record, reset)
        return self._continue(self.get(record.ref), values, on_event)

    def skip(self, run: str | RunRef, task: str, *, user: str | None = None,
             variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
             on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Mark a task that did not succeed (failed, waiting, queued...) skipped, then
        continue the run past it."""
        record = self._not_busy(self.get(run))
        self._check_run_as()
        if Status(record.status) == Status.SUCCEEDED:
            raise NothingToContinue(f"{record.ref} succeeded: there is nothing to skip")
        tasks = self.store.task_runs(record.id)
        target = self._task(record, tasks, task)
        if target.status in (Status.SUCCEEDED, Status.RUNNING) or (
                target.status == Status.SKIPPED and target.skip_reason not in RESETTABLE_SKIPS):
            raise NothingToContinue(f"task {target.stage}/{target.task} of {record.ref} "
                                    f"{target.status}: nothing to skip")
        values = self._values(record, variables, sensitive)    # refused before any change
        now = utc_now()
        steps = [(s.id, {"status": Status.SKIPPED.value, "finished_at": now})
                 for s in self.store.step_runs(record.id, latest=True)
                 if s.task_run_id == target.id and not Status(s.status).finished]
        self.store.record(steps=steps, tasks=[(target.id, {
            "status": Status.SKIPPED.value, "skip_reason": "user", "finished_at": now,
            "error": f"skipped by {user}" if user else "skipped"})])
        reset = [t for t in tasks if t.status == Status.SKIPPED
                 and t.skip_reason in RESETTABLE_SKIPS and t.id != target.id]
        self._reopen(record, reset)
        return self._continue(self.get(record.ref), values, on_event)

    def resume(self, run: str | RunRef, *, variables: Mapping[str, Any] | None = None,
               sensitive: Iterable[str] = (), user: str | None = None,
               on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Continue a run whose process died (`interrupted`): interrupted tasks start again,
        finished ones are kept. A run paused between deploy batches continues with the next
        batch (a `resume` decision is recorded for each paused deploy)."""
        self.mark_interrupted()
        record = self._not_busy(self.get(run))
        self._check_run_as()
        status = Status(record.status)
        paused = [g for g in pending_gates(self.store, record) if g.kind == "pause"] \
            if status == Status.WAITING else []
        if paused:
            values = self._values(record, variables, sensitive)    # refused before any change
            for gate in paused:
                self.store.add_approval(record.id, stage=gate.stage, task=gate.task,
                                        step=gate.step, step_run_id=gate.step_run_id,
                                        user=user or processes.account().name,
                                        decision="resume")
            return self._continue(self.get(record.ref), values, on_event)
        if status != Status.INTERRUPTED:
            hint = {Status.WAITING: f"approve or reject it (flowplan approve {record.ref})",
                    Status.FAILED: f"retry it (flowplan retry {record.ref})",
                    Status.CANCELED: f"retry it (flowplan retry {record.ref})"}.get(
                        status, "nothing to resume")
            raise NothingToContinue(f"{record.ref} is {status}, not interrupted: {hint}")
        values = self._values(record, variables, sensitive)    # refused before any change
        tasks = self.store.task_runs(record.id)
        self._reopen(record, [t for t in tasks if t.status == Status.INTERRUPTED])
        return self._continue(self.get(record.ref), values, on_event)

    def rollback(self, pipeline: str, to: str | RunRef, *, user: str | None = None,
                 variables: Mapping[str, Any] | None = None, sensitive: Iterable[str] = (),
                 on_event: events.EventSink = events.ignore) -> RunOutcome:
        """Start a run (trigger `rollback`) that repeats the deploy steps of run `to` with its
        artifacts and variables: its tasks that deploy, with only their deploy steps, and
        without the checkout or manual stage gates. Refused when `to` deployed nothing, or an
        artifact it deployed is no longer kept."""
        source = self.get(to if isinstance(to, RunRef) or "#" in str(to) else f"{pipeline}#{to}")
        if source.pipeline != pipeline:
            raise RunServiceError(f"{source.ref} is a run of {source.pipeline}, not {pipeline}")
        self._check_run_as()
        definition = rollback_definition(source.definition)
        if definition is None:
            raise NothingToContinue(f"{source.ref} has no deploy step to repeat "
                                    f"({', '.join(PAUSING_STEP_TYPES)})")
        artifacts = self.store.artifacts(source.id)
        missing = [a.name for a in artifacts if not Path(a.path).is_file()]
        if not artifacts or missing:
            what = f"its artifact {', '.join(missing)} is" if missing else "it has no artifact"
            raise NothingToContinue(f"cannot roll back to {source.ref}: {what} no longer kept")
        values = self._values(source, variables, sensitive)
        run = self.create(pipeline, definition, variables=values.variables,
                          sensitive=values.sensitive, branch=source.branch,
                          commit=source.commit, trigger="rollback", user=user,
                          origin=f"rollback of {source.ref}")
        for artifact in artifacts:
            self.store.put_artifact(run.id, artifact.name, path=artifact.path,
                                    size=artifact.size, sha256=artifact.sha256)
        # its steps see `to` (context.rollback_of), and the outputs of `to`'s other steps
        self.store.update_run(run.id, options={**(run.options or {}), ROLLBACK_OF: source.id})
        return self._drive(self.get(run.ref), values, on_event, continued=False)

    def cancel(self, run: str | RunRef, *, user: str | None = None,
               reason: str | None = None, variables: Mapping[str, Any] | None = None,
               sensitive: Iterable[str] = (),
               on_event: events.EventSink = events.ignore) -> RunRecord:
        """Mark the run canceled and stop its running steps (their whole process groups). A
        process driving the run notices within `poll_interval` and stops too. `reason` is
        recorded instead of `canceled by USER` (a server stopping, a concurrency limit).
        A deploy paused where it must be undone (a canary: UNDOING_STEP_TYPES) is continued
        first with a `cancel` decision, so that it removes what it started; that needs the
        run's sensitive values (`variables`) like resume does."""
        record = self.get(run)
        if Status(record.status).finished:
            raise NothingToContinue(f"{record.ref} already {record.status}")
        reason = reason or (f"canceled by {user}" if user else "canceled")
        record, left = self._undo_paused(record, user, reason, variables, sensitive, on_event)
        if Status(record.status).finished:
            return record
        reason = f"{reason}; {left}" if left else reason
        finished = [s.value for s in Status if s.finished]
        self.store.update_run(record.id, unless_status=finished, status=Status.CANCELED.value,
                              finished_at=utc_now(), error=reason)
        # another live process drives it, or a thread of this one (a server): that drive
        # notices the status, stops its steps after SIGTERM's grace and records the end
        driven = (driver_alive(record) and not driven_here(record)) or driving_now(record.id)
        local = record.host in (None, HOST)
        steps = self.store.step_runs(record.id, latest=True)
        for step in steps:
            if step.status == Status.RUNNING and local:
                _stop_step(step, signal.SIGTERM if driven else signal.SIGKILL)
        if not driven:
            now = utc_now()
            open_ = (Status.QUEUED, Status.WAITING, Status.RUNNING)
            self.store.record(
                steps=[(s.id, {"status": Status.CANCELED.value, "finished_at": now})
                       for s in steps if s.status in open_],
                tasks=[(t.id, {"status": Status.CANCELED.value, "finished_at": now,
                               "error": reason})
                       for t in self.store.task_runs(record.id) if t.status in open_])
            if record.pid is not None:
                self.store.release_run(record.id, record.pid)
        return self.get(record.ref)

    def pauses_to_undo(self, run: str | RunRef) -> list[PendingGate]:
        """The paused steps of a waiting run that a cancel continues so that they undo what
        they started (a canary: UNDOING_STEP_TYPES); none when another process drives it."""
        record = self.get(run)
        if Status(record.status) != Status.WAITING or (driver_alive(record)
                                                       and not driven_here(record)):
            return []
        kinds = {(s.stage, s.task, s.step): s.type for s in self.store.step_runs(record.id)}
        return [g for g in pending_gates(self.store, record) if g.kind == "pause"
                and kinds.get((g.stage, g.task, g.step)) in UNDOING_STEP_TYPES]

    def _undo_paused(self, record: RunRecord, user: str | None, reason: str,
                     variables: Mapping[str, Any] | None, sensitive: Iterable[str],
                     on_event: events.EventSink) -> tuple[RunRecord, str | None]:
        """Continue the paused steps of `record` that undo themselves when canceled, with a
        `cancel` decision each; the run as it is afterwards, and what was left undone. A run
        driven elsewhere is left to the plain cancel (its steps see the cancel flag); one whose
        sensitive values are not given too, and the paused steps stay as they are."""
        paused = self.pauses_to_undo(record.ref)
        if not paused:
            return record, None
        try:
            values = self._values(record, variables, sensitive)
        except RunServiceError as refused:
            steps = ", ".join(f"{g.stage}/{g.task}/{g.step}" for g in paused)
            return record, f"{steps} left as paused, not undone ({refused})"
        for gate in paused:
            self.store.add_approval(record.id, stage=gate.stage, task=gate.task,
                                    step=gate.step, step_run_id=gate.step_run_id,
                                    user=user or processes.account().name, decision="cancel",
                                    comment=reason)
        self._continue(self.get(record.ref), values, on_event)
        return self.get(record.ref), None

    def mark_interrupted(self) -> list[str]:
        """Runs this host's processes were driving and that died: mark them `interrupted`
        (and kill what is left of their steps). Call at startup; returns their refs."""
        marked = []
        for run in self.store.held_runs(HOST):
            if driven_here(run) or driver_alive(run):
                continue
            for step in self.store.interrupt_run(
                    run.id, f"the process driving the run (pid {run.pid}) is gone"):
                _stop_step(step)
            marked.append(run.ref)
        return marked

    def expire_approvals(self, *, on_event: events.EventSink = events.ignore
                         ) -> list[RunOutcome]:
        """Continue the waiting runs whose approval steps ran out of time (their `timeout`
        passed with no decision), so that those steps fail now rather than when someone next
        looks. For a server's scheduler, or the CLI at startup."""
        outcomes = []
        now = utc_now()
        for run in self.store.list_runs(statuses=[Status.WAITING.value], limit=1000):
            steps = {s.id: s for s in self.store.step_runs(run.id, latest=True)}
            for gate in pending_gates(self.store, run):
                if gate.step_run_id is None or gate.kind == "pause":
                    continue
                step = steps[gate.step_run_id]
                attributes = run.definition["stages"][gate.stage]["tasks"][gate.task][
                    "steps"][gate.step]
                timeout = attributes.get("timeout")
                deadline = deadline_of(timeout if isinstance(timeout, str) else None,
                                       step.started_at) if step.started_at else None
                if deadline is not None and now >= deadline:
                    try:
                        values = self._values(run, None, ())
                    except RunServiceError:
                        break   # it needs sensitive values: the next approve or reject fails it
                    outcomes.append(self._continue(run, values, on_event))
                    break
        return outcomes

    # -- questions ------------------------------------------------------------------------------

    def get(self, run: str | RunRef) -> RunRecord:
        ref = run if isinstance(run, RunRef) else RunRef.parse(run)
        record = self.store.find_run(ref.pipeline, ref.number)
        if record is None:
            latest = self.store.list_runs(ref.pipeline, limit=1)
            known = f" (latest is {latest[0].ref})" if latest else \
                f" (pipeline {ref.pipeline} has no runs)"
            raise RunNotFound(f"no run {ref}{known}")
        return record

    def list_runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[RunRecord]:
        """Newest first."""
        return self.store.list_runs(pipeline, limit=limit)

    def show(self, run: str | RunRef) -> RunTree:
        record = self.get(run)
        tasks = self.store.task_runs(record.id)
        steps = self.store.step_runs(record.id)
        stage_defs = record.definition.get("stages") or {}
        stages: dict[str, list[TaskView]] = {}
        for task in tasks:
            current = tuple(s for s in steps if s.task_run_id == task.id
                            and s.attempt == task.attempt)
            earlier = tuple(s for s in steps if s.task_run_id == task.id
                            and s.attempt != task.attempt)
            stages.setdefault(task.stage, []).append(TaskView(task, current, earlier))
        views = []
        for name, stage_def in sorted(stage_defs.items(), key=lambda i: i[1].get("index", 0)):
            task_views = stages.get(name, [])
            status = worst_of((counted(v.record.status, v.record.failure_allowed)
                               for v in task_views), default=Status.SKIPPED)
            views.append(StageView(name, stage_def.get("trigger", "auto"), status,
                                   tuple(task_views)))
        gates = tuple(g.event() for g in pending_gates(self.store, record)) \
            if not Status(record.status).finished else ()
        return RunTree(record, tuple(views), tuple(self.store.approvals(record.id)),
                       tuple(self.store.artifacts(record.id)), gates,
                       tuple(self.store.deploy_hosts(record.id)))

    def logs(self, run: str | RunRef, *, task: str | None = None, step: str | None = None,
             follow: bool = False, poll: float = 0.5) -> Iterator[LogLine]:
        """The run's stored log lines (of one task, or one step), oldest first. With `follow`,
        keep reading until the run finishes or waits."""
        record = self.get(run)
        after = 0
        while True:
            steps = {s.id: s for s in self.store.step_runs(record.id)}
            chosen = [s.id for s in steps.values() if (task is None or s.task == task)
                      and (step is None or s.step == step)]
            if (task is not None or step is not None) and not chosen:
                names = sorted({f"{s.task}/{s.step}" for s in steps.values()})
                raise RunNotFound(f"{record.ref} has no step matching "
                                  f"{task or '*'}/{step or '*'} (steps: {', '.join(names)})")
            ids = chosen if (task is not None or step is not None) else None
            status = Status(self.store.run_status(record.id))
            for line in self.store.log_lines(record.id, step_run_ids=ids, after_id=after):
                after = line.chunk_id
                owner = steps[line.step_run_id]
                yield LogLine(record.ref, owner.stage, owner.task, owner.step, owner.attempt,
                              line.seq, line.at, line.stream, line.text)
            if not follow or status.finished or status == Status.WAITING:
                return
            time.sleep(poll)

    # -- secrets --------------------------------------------------------------------------------

    def set_secret(self, name: str, value: str,
                   environ: Mapping[str, str] | None = None, *, by: str | None = None) -> None:
        """Store `value` encrypted with the operator's key (SecretKeyMissing without one;
        SecretKeyMismatch when the store's other secrets were stored with another key); the
        change is recorded with this process's account and the name `by`."""
        from flowplan.executor.secrets import SecretBox

        box = SecretBox.from_environment(environ)
        box.require_store_key({other: token for other in self.store.secret_names()
                               if other != name
                               and (token := self.store.get_secret_token(other)) is not None})
        self.store.put_secret(name, box.encrypt(value), by=by)

    # -- inside ---------------------------------------------------------------------------------

    def _check_run_as(self) -> None:
        """RunAsRefused when steps cannot run as the settings' `run_as` user."""
        step_user.step_user(self.settings, self.settings.environ)

    def _task(self, run: RunRecord, tasks: list[TaskRunRecord], name: str) -> TaskRunRecord:
        """A task by `task` or `stage/task`."""
        stage, _, task = name.rpartition("/")
        found = [t for t in tasks if t.task == task and (not stage or t.stage == stage)]
        if len(found) == 1:
            return found[0]
        names = ", ".join(f"{t.stage}/{t.task}" for t in tasks)
        if not found:
            raise RunNotFound(f"{run.ref} has no task {name!r} (tasks: {names})")
        raise RunServiceError(f"{run.ref} has several tasks named {name!r}: write STAGE/TASK "
                              f"({names})")

    def _not_busy(self, run: RunRecord) -> RunRecord:
        if driving_now(run.id):
            raise RunBusy(f"{run.ref} is being run by this process: wait for it, or cancel it")
        if not driven_here(run) and driver_alive(run) \
                and Status(run.status) in (Status.QUEUED, Status.RUNNING):
            raise RunBusy(f"{run.ref} is being run by process {run.pid} on {run.host}: wait for "
                          f"it, or cancel it (flowplan cancel {run.ref})")
        return run

    def _reopen(self, run: RunRecord, tasks: list[TaskRunRecord]) -> None:
        """Queue `tasks` again and the run with them; rejected manual stages may be decided
        again."""
        options = dict(run.options)
        approvals = self.store.approvals(run.id)
        floors = dict(options.get(GATE_FLOOR) or {})
        for task in tasks:
            if task.skip_reason == "rejected" and approvals:
                floors[task.stage] = max(a.id for a in approvals)
        options[GATE_FLOOR] = floors
        self.store.record(tasks=[(t.id, {
            "status": Status.QUEUED.value, "error": None, "failure_allowed": False,
            "skip_reason": None, "finished_at": None}) for t in tasks])
        self.store.update_run(run.id, status=Status.QUEUED.value, finished_at=None, error=None,
                              options=options)

    def _continue(self, run: RunRecord, values: RunValues, on_event,
                  continued: bool = True) -> RunOutcome:
        """Drive `run` with `values` (from `_values`, asked for before any change is made, so
        that a refusal leaves the run as it was), unless another live process drives it.
        When another thread of this process drives it (a server), wait for that drive to end
        (it may pick the change up itself, or end waiting just before it could), then go on
        from what it left."""
        if driving_now(run.id):
            while driving_now(run.id):
                time.sleep(self.settings.poll_interval)
            run = self.get(run.ref)
            if Status(run.status) not in (Status.WAITING, Status.QUEUED):
                return self._outcome(run)
        if not driven_here(run) and driver_alive(run) \
                and Status(run.status) in (Status.QUEUED, Status.RUNNING):
            return RunOutcome(run.ref, run.id, Status(run.status),
                              driven_by=f"process {run.pid} on {run.host}")
        return self._drive(run, values, on_event, continued)

    def _values(self, run: RunRecord, variables, sensitive) -> RunValues:
        """The values to continue `run` with; RunServiceError when a sensitive value the run
        started with is not given again. The store masks them from then on."""
        try:
            values = RunValues.of(variables, sensitive).over(run.variables)
        except ValueError as exc:
            raise RunServiceError(f"{run.ref}: {exc}") from None
        self.store.mask_sensitive(values.secret_texts())
        return values

    def _drive(self, run: RunRecord, values: RunValues, on_event: events.EventSink,
               continued: bool) -> RunOutcome:
        dispatcher = self._dispatcher()
        drive = Drive(self.store, self.settings, run, values, on_event, continued=continued,
                      resources=self.resources, targets=self.targets, dispatcher=dispatcher)
        sealed = False
        if dispatcher is not None:      # workers open the sensitive values from the store
            from flowplan.executor.distributed import run_secrets

            try:
                sealed = run_secrets.seal(self.store, run.id, values, self.settings.environ)
            except run_secrets.RunSecretsError as exc:    # recorded, so nobody waits for it
                self.store.update_run(run.id, status=Status.FAILED.value, error=str(exc),
                                      finished_at=utc_now(),
                                      unless_status=(Status.CANCELED.value,))
                raise RunServiceError(f"{run.ref}: {exc}") from None
        self._watch.interval = self.settings.poll_interval   # settings may be replaced
        self._watch.add(drive)
        try:
            result = drive.run()
        except RunHeld as held:
            raise RunBusy(f"{run.ref} is being run by process {held.pid} on {held.host}") \
                from None
        finally:
            self._watch.remove(drive)
            if sealed:
                run_secrets.forget(self.store, run.id)
        return RunOutcome(run.ref, run.id, result.status, result.error, result.gates,
                          result.commands)

    def _dispatcher(self) -> Any:
        """What sends tasks to workers under `executor = "celery"`; None runs them here."""
        if self.settings.executor != "celery":
            return None
        if self._celery is None:
            from flowplan.executor.distributed.dispatch import CeleryDispatcher

            self._celery = CeleryDispatcher(self.settings)
        return self._celery

    def _outcome(self, run: RunRecord) -> RunOutcome:
        return RunOutcome(run.ref, run.id, Status(run.status), run.error)


def rollback_definition(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    """`definition` cut down to its deploys: the tasks with a deploy step, keeping only those
    steps (and `needs` among the tasks kept), in stages without a manual trigger; no source
    (the artifacts are the run's). None when it deploys nothing."""
    stages: dict[str, Any] = {}
    for stage_name, stage in (definition.get("stages") or {}).items():
        tasks: dict[str, Any] = {}
        for task_name, task in (stage.get("tasks") or {}).items():
            steps = {name: step for name, step in (task.get("steps") or {}).items()
                     if step.get("type") in PAUSING_STEP_TYPES}
            if steps:
                tasks[task_name] = {**task, "steps": steps}
        if tasks:
            for task in tasks.values():
                if task.get("needs"):
                    task["needs"] = [n for n in task["needs"] if n in tasks]
            stages[stage_name] = {**{k: v for k, v in stage.items() if k != "trigger"},
                                  "tasks": tasks}
    if not stages:
        return None
    return {**{k: v for k, v in definition.items() if k not in ("source", "stages")},
            "stages": stages}


def _stop_step(step: StepRunRecord, sig: int = signal.SIGKILL) -> bool:
    """Signal the process group of a step recorded as running, only while it is still that
    step's: a pid recorded before a reboot, or since given to another process, is left alone
    (flowplan.processes.group_is_still)."""
    if not step.pid or not processes.group_is_still(step.pid, step.pid_start_time,
                                                    step.boot_id):
        return False
    return kill_group(step.pid, sig)
