"""Run history in the store: runs, their task runs and step runs, as frozen records.

`RunHistory` is mixed into `flowplan.store.Store`; callers use it through the Store. It allocates
run numbers (one per pipeline, never twice: the allocating transaction is BEGIN IMMEDIATE on
SQLite and a unique constraint with retries elsewhere), records transitions, and answers the
questions the executor and the CLI ask. Writes go through SQLAlchemy Core with compiled statements
cached, because the executor records every step's start and finish before it goes on.

Statuses are plain strings here (the values of flowplan.executor.status.Status): which transition
is allowed when is the executor's business, not the store's. Every call that records an error, a
commit message or step outputs masks the sensitive values the store was told about
(flowplan.store.sensitive) first.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (ColumnElement, Connection, Engine, and_, case, delete, exists, false,
                        func, insert, literal, null, or_, select, true, update)
from sqlalchemy.exc import IntegrityError

from flowplan.store.json_data import require_json_data
from flowplan.store.recording import Recorder
from flowplan.store.schema import DeployHost, Run, RunSecret, StepRun, TaskRun, utc_now

RUNS = Run.__table__
TASKS = TaskRun.__table__
STEPS = StepRun.__table__
RUN_SECRETS = RunSecret.__table__
DEPLOY_HOSTS = DeployHost.__table__

ACTIVE_STATUSES = ("queued", "running")       # a process may be driving the run
NUMBER_ATTEMPTS = 10


class RunHeld(Exception):
    """Another live process is driving the run."""

    def __init__(self, pid: int | None, host: str | None) -> None:
        super().__init__(f"process {pid} on {host} is running it")
        self.pid = pid
        self.host = host


@dataclass(frozen=True)
class StepPlan:
    step: str
    type: str
    position: int


@dataclass(frozen=True)
class TaskPlan:
    stage: str
    stage_index: int
    task: str
    position: int
    steps: tuple[StepPlan, ...]


@dataclass(frozen=True)
class RunRecord:
    id: int
    pipeline: str
    number: int
    status: str
    trigger: str
    user: str | None
    branch: str | None
    commit: str | None
    commit_short: str | None
    commit_author: str | None
    commit_message: str | None
    variables: dict[str, Any]
    definition: dict[str, Any]
    options: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    pid: int | None
    host: str | None
    pid_start_time: int | None = None     # which process `pid` was (flowplan.processes)
    boot_id: str | None = None
    team: str = "default"                 # the team whose run it is (flowplan.teams)

    @property
    def ref(self) -> str:
        """How people name the run: `pipeline#number`."""
        return f"{self.pipeline}#{self.number}"

    @property
    def origin(self) -> str | None:
        """Which definition ran: "applied" (registered by apply) or "working_copy" (`run
        --from-config`); None for runs recorded before flowplan kept it."""
        return (self.options or {}).get("definition")


@dataclass(frozen=True)
class TaskRunRecord:
    id: int
    run_id: int
    stage: str
    stage_index: int
    task: str
    position: int
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    failure_allowed: bool
    skip_reason: str | None
    workspace: str | None


@dataclass(frozen=True)
class StepRunRecord:
    id: int
    run_id: int
    task_run_id: int
    stage: str
    task: str
    step: str
    type: str
    position: int
    attempt: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error: str | None
    outputs: dict[str, Any] | None
    pid: int | None
    log_lines: int
    log_bytes: int
    log_dropped: int
    pid_start_time: int | None = None     # which process `pid` was (flowplan.processes)
    boot_id: str | None = None
    summary: dict[str, Any] | None = None  # the step type's report: title, lines, figures


_RUN_FIELDS = frozenset(RUNS.c.keys()) - {"id", "pipeline", "number", "team"}
_TASK_FIELDS = frozenset(TASKS.c.keys()) - {"id", "run_id", "stage", "task"}
_STEP_FIELDS = frozenset(STEPS.c.keys()) - {"id", "run_id", "task_run_id", "stage", "task", "step"}


def in_team(team: str | None, run_id: Any) -> ColumnElement[bool]:
    """A clause true when the run `run_id` (a column or a value) is `team`'s (always, for a
    store opened for every team)."""
    if team is None:
        return true()
    return exists().where(RUNS.c.id == run_id, RUNS.c.team == team)


def run_of_team(team: str | None) -> ColumnElement[bool]:
    """A clause on `runs` itself: the row is `team`'s."""
    return true() if team is None else RUNS.c.team == team


def _check_fields(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"cannot set {', '.join(sorted(unknown))} on a {what}")


class RunHistory:
    """Runs, task runs and step runs. Mixed into Store, which provides the engines."""

    _engine: Engine
    _write_engine: Engine
    _recorder: Recorder
    _team: str | None
    _owner: Callable[[], str]
    _masked_fields: Callable[[Mapping[str, Any]], Mapping[str, Any]]    # SensitiveText's
    _masked_text: Callable[[str | None], str | None]

    # -- creating -------------------------------------------------------------------------------

    def create_run(self, pipeline: str, *, trigger: str, user: str | None,
                   definition: dict[str, Any], tasks: Sequence[TaskPlan],
                   variables: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                   branch: str | None = None, commit: str | None = None,
                   status: str = "queued", pid: int | None = None,
                   host: str | None = None, pid_start_time: int | None = None,
                   boot_id: str | None = None) -> RunRecord:
        """A new run numbered one above the pipeline's last, with its tasks and first-attempt
        steps, all queued, in one transaction."""
        for value, what in ((definition, "run definition"), (variables or {}, "run variables"),
                            (options or {}, "run options")):
            require_json_data(value, what)
        now = utc_now()
        team = self._owner()
        row = dict(team=team, pipeline=pipeline, status=status, trigger=trigger, user=user,
                   branch=branch,
                   commit=commit, variables=copy.deepcopy(variables or {}),
                   definition=copy.deepcopy(definition), options=copy.deepcopy(options or {}),
                   created_at=now, pid=pid, host=host, pid_start_time=pid_start_time,
                   boot_id=boot_id)
        for attempt in range(1, NUMBER_ATTEMPTS + 1):
            try:
                with self._write_engine.begin() as connection:
                    number = connection.execute(
                        select(func.coalesce(func.max(RUNS.c.number), 0) + 1)
                        .where(RUNS.c.team == team, RUNS.c.pipeline == pipeline)).scalar_one()
                    run_id = connection.execute(
                        insert(RUNS).values(number=number, **row)).inserted_primary_key[0]
                    for task in tasks:
                        task_id = connection.execute(insert(TASKS).values(
                            run_id=run_id, stage=task.stage, stage_index=task.stage_index,
                            task=task.task, position=task.position, status="queued", attempt=1,
                            failure_allowed=False)).inserted_primary_key[0]
                        _insert_steps(connection, run_id, task_id, task, 1)
                    return _run_record(connection.execute(
                        select(RUNS).where(RUNS.c.id == run_id)).one())
            except IntegrityError:  # another process took the number first (not on SQLite)
                if attempt == NUMBER_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def start_task_attempt(self, task_run_id: int, attempt: int, steps: Sequence[StepPlan],
                           **fields: Any) -> dict[str, int]:
        """Step rows for `attempt` of the task (made if missing) and the task's fields set, in one
        transaction; returns the step run ids by step name."""
        _check_fields(fields, _TASK_FIELDS, "task run")
        fields = self._masked_fields(fields)
        with self._write_engine.begin() as connection:
            task = connection.execute(select(TASKS).where(
                TASKS.c.id == task_run_id, in_team(self._team, TASKS.c.run_id))).one()
            existing = {row.step: row.id for row in connection.execute(
                select(STEPS.c.step, STEPS.c.id).where(STEPS.c.task_run_id == task_run_id,
                                                       STEPS.c.attempt == attempt))}
            missing = [plan for plan in steps if plan.step not in existing]
            if missing:
                plan = TaskPlan(task.stage, task.stage_index, task.task, task.position,
                                tuple(missing))
                existing.update(_insert_steps(connection, task.run_id, task_run_id, plan,
                                              attempt))
            connection.execute(update(TASKS).where(TASKS.c.id == task_run_id)
                               .values(attempt=attempt, **fields))
            return existing

    # -- transitions ----------------------------------------------------------------------------

    def update_run(self, run_id: int, *, unless_status: Iterable[str] = (),
                   **fields: Any) -> bool:
        """Set fields of the run, unless its status is one of `unless_status`; False when the
        run is missing or was in one of those statuses."""
        _check_fields(fields, _RUN_FIELDS, "run")
        fields = self._masked_fields(fields)
        statement = update(RUNS).where(RUNS.c.id == run_id, run_of_team(self._team))
        guard = tuple(unless_status)
        if guard:
            statement = statement.where(RUNS.c.status.not_in(guard))
        with self._write_engine.begin() as connection:
            return connection.execute(statement.values(**fields)).rowcount > 0

    def update_task(self, task_run_id: int, **fields: Any) -> None:
        self.record(tasks=[(task_run_id, fields)])

    def update_step(self, step_run_id: int, **fields: Any) -> None:
        self.record(steps=[(step_run_id, fields)])

    def record(self, *, steps: Sequence[tuple[int, Mapping[str, Any]]] = (),
               tasks: Sequence[tuple[int, Mapping[str, Any]]] = (),
               chunks: Sequence[Mapping[str, Any]] = ()) -> None:
        """Several transitions in one transaction: log chunks first, then task and step fields.

        The executor finishes one step and starts the next in one call, with the finished
        step's last log lines: everything is committed before the next step's process starts.
        The rows are named by the ids the executor was handed for its run (through a store of
        the run's team), on the hot path: not checked against the team again.
        """
        for _id, fields in tasks:
            _check_fields(fields, _TASK_FIELDS, "task run")
        for _id, fields in steps:
            _check_fields(fields, _STEP_FIELDS, "step run")
        tasks = [(row_id, self._masked_fields(fields)) for row_id, fields in tasks]
        steps = [(row_id, self._masked_fields(fields)) for row_id, fields in steps]
        self._recorder.record([(TASKS, tasks), (STEPS, steps)], chunks)

    def claim_run(self, run_id: int, pid: int, host: str,
                  holder_alive: Callable[[RunRecord], bool], *,
                  unless_status: Iterable[str] = (), **fields: Any) -> RunRecord:
        """Record this process (`pid` on `host`) as the one driving the run and set `fields`;
        a run whose status is one of `unless_status` (canceled meanwhile) is returned as it is.

        Raises RunHeld when another process that `holder_alive` (given the run as recorded)
        says is alive holds it.
        """
        _check_fields(fields, _RUN_FIELDS, "run")
        fields = self._masked_fields(fields)
        guard = tuple(unless_status)
        with self._write_engine.begin() as connection:
            # the usual case in one statement: nobody (or this process) holds it
            claimed = connection.execute(
                update(RUNS).where(RUNS.c.id == run_id, run_of_team(self._team),
                                   RUNS.c.status.not_in(guard) if guard else true(),
                                   or_(RUNS.c.pid.is_(None),
                                       and_(RUNS.c.pid == pid, RUNS.c.host == host)))
                .values(pid=pid, host=host, **fields).returning(*RUNS.c)).one_or_none()
            if claimed is not None:
                return _run_record(claimed)
            row = connection.execute(select(RUNS).where(
                RUNS.c.id == run_id, run_of_team(self._team))).one_or_none()
            if row is None:
                raise KeyError(run_id)
            if row.status in guard:
                return _run_record(row)
            held = row.pid is not None and (row.pid, row.host) != (pid, host)
            if held and holder_alive(_run_record(row)):
                raise RunHeld(row.pid, row.host)
            return _run_record(connection.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(pid=pid, host=host, **fields)
                .returning(*RUNS.c)).one())

    def release_run(self, run_id: int, pid: int, *, unless_status: Iterable[str] = (),
                    **fields: Any) -> str | None:
        """Set `fields` (unless the run's status is one of `unless_status`) and forget the
        driving process (if it is still `pid`), in one transaction; the run's status after."""
        _check_fields(fields, _RUN_FIELDS, "run")
        fields = self._masked_fields(fields)
        guard = tuple(unless_status)
        kept = RUNS.c.status.in_(guard) if guard else false()     # its fields stay as they are
        mine = RUNS.c.pid == pid
        values = {name: case((kept, RUNS.c[name]), else_=literal(value, RUNS.c[name].type))
                  for name, value in fields.items()}
        values.update({name: case((mine, null()), else_=RUNS.c[name])
                       for name in ("pid", "pid_start_time", "boot_id")})
        with self._write_engine.begin() as connection:      # one statement, the lock held
            return connection.execute(                      # for as short as can be
                update(RUNS).where(RUNS.c.id == run_id, run_of_team(self._team))
                .values(values).returning(RUNS.c.status)).scalar_one_or_none()

    def interrupt_run(self, run_id: int, error: str) -> list[StepRunRecord]:
        """Mark a run whose process is gone, and its running tasks and steps, `interrupted`;
        returns the steps that were running (their process groups may still be alive). Hosts a
        deploy was deploying to are recorded `failed` with the same error: nobody saw them
        finish (deploy records have no `interrupted`; the resumed deploy does them again).
        The sensitive values its driver left for workers (run_secrets) are deleted: resuming
        the run asks for them again."""
        now = utc_now()
        error = self._masked_text(error)
        with self._write_engine.begin() as connection:
            if connection.execute(select(RUNS.c.id).where(
                    RUNS.c.id == run_id, run_of_team(self._team))).first() is None:
                return []
            running = [_step_record(row) for row in connection.execute(
                select(STEPS).where(STEPS.c.run_id == run_id, STEPS.c.status == "running"))]
            connection.execute(update(DEPLOY_HOSTS).where(DEPLOY_HOSTS.c.run_id == run_id,
                                                          DEPLOY_HOSTS.c.status == "running")
                               .values(status="failed", finished_at=now, error=error))
            connection.execute(update(STEPS).where(STEPS.c.run_id == run_id,
                                                   STEPS.c.status == "running")
                               .values(status="interrupted", finished_at=now, error=error))
            connection.execute(update(TASKS).where(TASKS.c.run_id == run_id,
                                                   TASKS.c.status == "running")
                               .values(status="interrupted", finished_at=now, error=error))
            connection.execute(update(RUNS).where(RUNS.c.id == run_id,
                                                  RUNS.c.status.in_(ACTIVE_STATUSES))
                               .values(status="interrupted", finished_at=now, error=error,
                                       pid=None, pid_start_time=None, boot_id=None))
            connection.execute(delete(RUN_SECRETS).where(RUN_SECRETS.c.run_id == run_id))
            return running

    # -- questions ------------------------------------------------------------------------------

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(RUNS).where(
                RUNS.c.id == run_id, run_of_team(self._team))).one_or_none()
            return _run_record(row) if row is not None else None

    def find_run(self, pipeline: str, number: int) -> RunRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(RUNS).where(
                RUNS.c.team == self._owner(), RUNS.c.pipeline == pipeline,
                RUNS.c.number == number)).one_or_none()
            return _run_record(row) if row is not None else None

    def run_status(self, run_id: int) -> str | None:
        with self._engine.connect() as connection:
            return connection.execute(
                select(RUNS.c.status).where(RUNS.c.id == run_id, run_of_team(self._team))
            ).scalar_one_or_none()

    def run_statuses(self, run_ids: Iterable[int]) -> dict[int, str]:
        """The status of each of these runs this store can see, in one query."""
        ids = list(run_ids)
        if not ids:
            return {}
        with self._engine.connect() as connection:
            return dict(connection.execute(select(RUNS.c.id, RUNS.c.status).where(
                RUNS.c.id.in_(ids), run_of_team(self._team))).all())

    def list_runs(self, pipeline: str | None = None, *, limit: int = 50,
                  statuses: Iterable[str] | None = None) -> list[RunRecord]:
        """Newest first."""
        statement = (select(RUNS).where(RUNS.c.team == self._owner())
                     .order_by(RUNS.c.id.desc()).limit(limit))
        if pipeline is not None:
            statement = statement.where(RUNS.c.pipeline == pipeline)
        if statuses is not None:
            statement = statement.where(RUNS.c.status.in_(tuple(statuses)))
        with self._engine.connect() as connection:
            return [_run_record(row) for row in connection.execute(statement)]

    def held_runs(self, host: str) -> list[RunRecord]:
        """Runs a process on `host` claims to be driving (queued or running)."""
        with self._engine.connect() as connection:
            return [_run_record(row) for row in connection.execute(
                select(RUNS).where(run_of_team(self._team), RUNS.c.host == host,
                                   RUNS.c.pid.is_not(None),
                                   RUNS.c.status.in_(ACTIVE_STATUSES)))]

    def task_runs(self, run_id: int) -> list[TaskRunRecord]:
        """In stage order, then declaration order."""
        with self._engine.connect() as connection:
            return [_task_record(row) for row in connection.execute(
                select(TASKS).where(TASKS.c.run_id == run_id, in_team(self._team, run_id))
                .order_by(TASKS.c.stage_index, TASKS.c.position))]

    def task_run_view(self, run_id: int, task_run_id: int
                      ) -> tuple[str | None, TaskRunRecord | None, list[StepRunRecord]]:
        """What a worker reads before it runs a task, in one read transaction: the run's
        status, the task run, and its current attempt's steps in order (None and nothing for
        a run or task run this store cannot see)."""
        with self._engine.connect() as connection:
            status = connection.execute(select(RUNS.c.status).where(
                RUNS.c.id == run_id, run_of_team(self._team))).scalar_one_or_none()
            if status is None:
                return None, None, []
            row = connection.execute(select(TASKS).where(
                TASKS.c.id == task_run_id, TASKS.c.run_id == run_id)).one_or_none()
            if row is None:
                return status, None, []
            steps = connection.execute(
                select(STEPS).where(STEPS.c.task_run_id == task_run_id,
                                    STEPS.c.attempt == row.attempt)
                .order_by(STEPS.c.position))
            return status, _task_record(row), [_step_record(step) for step in steps]

    def step_runs(self, run_id: int, *, latest: bool = False) -> list[StepRunRecord]:
        """Every attempt's steps (or only the task's current attempt), in execution order."""
        statement = (select(STEPS).join(TASKS, TASKS.c.id == STEPS.c.task_run_id)
                     .where(STEPS.c.run_id == run_id, in_team(self._team, run_id))
                     .order_by(TASKS.c.stage_index, TASKS.c.position, STEPS.c.attempt,
                               STEPS.c.position))
        if latest:
            statement = statement.where(STEPS.c.attempt == TASKS.c.attempt)
        with self._engine.connect() as connection:
            return [_step_record(row) for row in connection.execute(statement)]

    def last_succeeded_step(self, pipeline: str, stage: str, task: str, step: str, *,
                            before_number: int) -> tuple[RunRecord, StepRunRecord] | None:
        """The newest run of `pipeline` numbered below `before_number` in which the step
        `stage`/`task`/`step` succeeded, with that step run (e.g. for an incremental scan)."""
        statement = (select(RUNS, STEPS.c.id.label("step_run_id"))
                     .join(STEPS, STEPS.c.run_id == RUNS.c.id)
                     .where(RUNS.c.team == self._owner(), RUNS.c.pipeline == pipeline,
                            RUNS.c.number < before_number,
                            STEPS.c.stage == stage, STEPS.c.task == task, STEPS.c.step == step,
                            STEPS.c.status == "succeeded")
                     .order_by(RUNS.c.number.desc(), STEPS.c.id.desc()).limit(1))
        with self._engine.connect() as connection:
            row = connection.execute(statement).one_or_none()
            if row is None:
                return None
            found = connection.execute(select(STEPS).where(STEPS.c.id == row.step_run_id)).one()
            return _run_record(row), _step_record(found)

    def get_step_run(self, step_run_id: int) -> StepRunRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(STEPS).where(STEPS.c.id == step_run_id,
                                    in_team(self._team, STEPS.c.run_id))).one_or_none()
            return _step_record(row) if row is not None else None


def _insert_steps(connection: Connection, run_id: int, task_run_id: int, task: TaskPlan,
                  attempt: int) -> dict[str, int]:
    """Insert the task's step rows (one executemany) and return their ids by step name."""
    if not task.steps:
        return {}
    connection.execute(insert(STEPS), [
        dict(run_id=run_id, task_run_id=task_run_id, stage=task.stage, task=task.task,
             step=plan.step, type=plan.type, position=plan.position, attempt=attempt,
             status="queued", log_lines=0, log_bytes=0, log_dropped=0) for plan in task.steps])
    return {row.step: row.id for row in connection.execute(
        select(STEPS.c.step, STEPS.c.id).where(STEPS.c.task_run_id == task_run_id,
                                               STEPS.c.attempt == attempt))}


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id, pipeline=row.pipeline, number=row.number, status=row.status,
        trigger=row.trigger, user=row.user, branch=row.branch, commit=row.commit,
        commit_short=row.commit_short, commit_author=row.commit_author,
        commit_message=row.commit_message, variables=row.variables or {},
        definition=row.definition or {}, options=row.options or {}, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, error=row.error, pid=row.pid,
        host=row.host, pid_start_time=row.pid_start_time, boot_id=row.boot_id,
        team=row.team)


def _task_record(row: Any) -> TaskRunRecord:
    return TaskRunRecord(
        id=row.id, run_id=row.run_id, stage=row.stage, stage_index=row.stage_index,
        task=row.task, position=row.position, status=row.status, attempt=row.attempt,
        started_at=row.started_at, finished_at=row.finished_at, error=row.error,
        failure_allowed=bool(row.failure_allowed), skip_reason=row.skip_reason,
        workspace=row.workspace)


def _step_record(row: Any) -> StepRunRecord:
    return StepRunRecord(
        id=row.id, run_id=row.run_id, task_run_id=row.task_run_id, stage=row.stage,
        task=row.task, step=row.step, type=row.type, position=row.position,
        attempt=row.attempt, status=row.status, started_at=row.started_at,
        finished_at=row.finished_at, exit_code=row.exit_code, error=row.error,
        outputs=row.outputs, pid=row.pid, log_lines=row.log_lines, log_bytes=row.log_bytes,
        log_dropped=row.log_dropped, pid_start_time=row.pid_start_time, boot_id=row.boot_id,
        summary=row.summary)
