"""The JSON REST API under /api/v1: pipelines, runs, decisions, logs and artifacts.

    GET  /api/v1/pipelines                          each with its last run
    GET  /api/v1/pipelines/{p}/runs                 ?status=&branch=&trigger=&limit=
    POST /api/v1/pipelines/{p}/runs                 {variables, branch, commit} -> 202 + the run
    GET  /api/v1/runs/{p}/{n}                       the run tree, gates, approvals, artifacts
    POST /api/v1/runs/{p}/{n}/approve | reject      {comment, task}
    POST /api/v1/runs/{p}/{n}/cancel | retry | resume | skip
    GET  /api/v1/runs/{p}/{n}/logs                  ?task=&step=&after=&limit= (paged)
    GET  /api/v1/runs/{p}/{n}/artifacts/{name}      the file

Who asks is `Authorization: Bearer TOKEN` (`flowplan token create USER`), or the dashboard's
session cookie with the `X-CSRF-Token` header on unsafe methods; 401 otherwise. Every action is
recorded as that user, never a name from the request. Errors are `{"error": "..."}` (the route
class below turns FastAPI's own validation and HTTP errors into that shape); an unknown pipeline
or run is 404, a request the run's state does not allow 409, a decision by someone who may not
make it 403.

Actions that continue a run (approve, reject, retry, skip, resume) are checked here against what
the run waits for, so that a refusal is answered at once with nothing recorded; then the run
service call itself goes to `launcher.continue_in_background` and the request is answered 202.
The run service checks again when it runs, so a race between two people ends in one decision.
The functions `approve_run` ... `resume_run` are what the dashboard's buttons call too.

The server's context (`request.app.state.context`, a flowplan.server.context.ServerContext) gives
the run service, the store, the launcher, the authenticator and the config directory. Starting runs,
sessions and tokens are the launcher's and the authenticator's; this module only speaks HTTP.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from flowplan.executor.errors import RunNotFound, RunServiceError
from flowplan.executor.run.refs import MAX_RUN_NUMBER, RunRef
from flowplan.executor.status import Status
from flowplan.server.auth import CSRF_HEADER, SESSION_COOKIE
from flowplan.server.launcher import LaunchRefused

MAX_NAME = 200            # pipeline, task, step and artifact names, branches
MAX_COMMENT = 2000        # as `flowplan approve --comment`
MAX_VARIABLE = 10_000     # one pipeline variable's value
MAX_VARIABLES = 100
LOG_PAGE = 1000           # lines of one page, at most
FILTER_WINDOW = 1000      # runs looked through when filtering by branch or trigger
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DECISION_WAIT = 2.0       # seconds a decision's answer waits for the decision to be recorded

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CURSOR = re.compile(r"([0-9]{1,15})\.([0-9]{1,9})")


class ApiError(Exception):
    """A refusal with its HTTP status and the message for the person."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: text from a request (a lone surrogate in a JSON string)
    can be quoted back in an error without failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str,
                   headers: dict[str, str] | None = None) -> SafeJSONResponse:
    return SafeJSONResponse({"error": message}, status_code=status, headers=headers)


class JsonErrorRoute(APIRoute):
    """Routes whose refusals are `{"error": ...}`: ApiError, FastAPI's HTTP errors and request
    validation (422, the first few problems named)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.headers)
            except RequestValidationError as exc:
                return error_response(422, validation_message(exc.errors()))
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail), exc.headers)
        return route


def validation_message(errors: Any) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# -- who asks --------------------------------------------------------------------------------------

def context_of(request: Request) -> Any:
    """The server's context (flowplan.server.context.ServerContext)."""
    return request.app.state.context


def caller_of(request: Request) -> str | None:
    """Who asks: a bearer token's user, else a session's (the CSRF token checked for unsafe
    methods: ApiError 403 when it is missing or wrong). None when neither is given or valid."""
    auth = context_of(request).auth
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return _member(auth, auth.user_for_token(token.strip()) or None)
    session = auth.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if request.method not in SAFE_METHODS and \
            not auth.csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, f"the {CSRF_HEADER} header is missing or wrong: a session needs it "
                            "on every request that changes something")
    return _member(auth, session.user)


def _member(auth: Any, user: str | None) -> str | None:
    """`user`, when a member of the server's team; ApiError 403 for anyone else."""
    if user is not None and not auth.is_member(user):
        raise ApiError(403, auth.not_member_message(user))
    return user


_bearer = HTTPBearer(auto_error=False, description="`flowplan token create USER` prints one")


def api_user(request: Request,
             _credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    """The authenticated user's name; 401 with `WWW-Authenticate: Bearer` otherwise."""
    user = caller_of(request)
    if user is None:
        raise ApiError(401, "authentication required: send Authorization: Bearer TOKEN "
                            "(flowplan token create USER)",
                       {"WWW-Authenticate": 'Bearer realm="flowplan"'})
    return user


User = Annotated[str, Depends(api_user)]


# -- request bodies --------------------------------------------------------------------------------

def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("holds a control character or is not UTF-8 text")
    if not value.strip():
        raise ValueError("is empty")
    return value


def _lines_text(value: str) -> str:
    if _CONTROL_BUT_LINES.search(value):
        raise ValueError("holds a control character or is not UTF-8 text")
    return value


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_plain_text)]
VariableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")]
VariableValue = Annotated[str, Field(max_length=MAX_VARIABLE), AfterValidator(_lines_text)]
Comment = Annotated[str, Field(max_length=MAX_COMMENT), AfterValidator(_lines_text)]


class RunRequest(BaseModel):
    """A run to start: values of the pipeline's `variables`, a branch or commit to check out."""
    model_config = ConfigDict(extra="forbid")

    variables: dict[VariableName, VariableValue] = Field(default_factory=dict,
                                                         max_length=MAX_VARIABLES)
    branch: Name | None = None
    commit: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{4,64}$")] | None = None


class DecisionRequest(BaseModel):
    """An approval or rejection: a comment, and the waiting task when several wait."""
    model_config = ConfigDict(extra="forbid")

    comment: Comment | None = None
    task: Name | None = None


class TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Name | None = None


class SkipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Name


# -- responses -------------------------------------------------------------------------------------

class ErrorBody(BaseModel):
    error: str


class RunSummary(BaseModel):
    ref: str
    pipeline: str
    number: int
    status: str
    trigger: str
    user: str | None
    branch: str | None
    commit: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None


class PipelineSummary(BaseModel):
    name: str
    description: str
    last_run: RunSummary | None


class PipelineList(BaseModel):
    pipelines: list[PipelineSummary]


class RunList(BaseModel):
    runs: list[RunSummary]


class StepSummary(BaseModel):
    """A step type's report summary (tests, scans, builds): a title, lines, other figures."""
    title: str | None
    lines: list[str]
    figures: dict[str, Any]


class StepView(BaseModel):
    id: int
    name: str
    type: str
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    exit_code: int | None
    error: str | None
    log_lines: int
    summary: StepSummary | None


class TaskView(BaseModel):
    name: str
    stage: str
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None
    skip_reason: str | None
    failure_allowed: bool
    steps: list[StepView]


class StageView(BaseModel):
    name: str
    trigger: str
    status: str
    tasks: list[TaskView]


class GateView(BaseModel):
    stage: str
    task: str | None
    step: str | None
    kind: str                 # approval, or pause (a deploy paused between batches: resume)
    description: str
    who: str                  # who may decide, in words
    you_may_decide: bool


class ApprovalView(BaseModel):
    stage: str
    task: str | None
    step: str | None
    user: str
    decided_by: str
    decision: str
    comment: str | None
    at: datetime


class ArtifactView(BaseModel):
    name: str
    size: int
    sha256: str
    created_at: datetime
    url: str


class RunDetail(BaseModel):
    run: RunSummary
    variables: dict[str, str]
    stages: list[StageView]
    gates: list[GateView]
    approvals: list[ApprovalView]
    artifacts: list[ArtifactView]


class ActionAccepted(BaseModel):
    ref: str
    action: str
    message: str


class LogLineView(BaseModel):
    stage: str
    task: str
    step: str
    step_id: int
    attempt: int
    seq: int
    at: float
    stream: str
    text: str
    cursor: str


class LogPage(BaseModel):
    lines: list[LogLineView]
    next: str | None          # give as `after` for the next page; None when none was read
    more: bool                # a full page: more lines may follow at once
    run_status: str


# -- views of records ------------------------------------------------------------------------------

def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    from flowplan.store.schema import utc_now

    return round(((end or utc_now()) - start).total_seconds(), 3)


def text_of(value: Any) -> str:
    """A definition's text attribute for people: a value known only at run time shows empty."""
    return value if isinstance(value, str) else ""


def run_summary(run: Any) -> RunSummary:
    return RunSummary(ref=run.ref, pipeline=run.pipeline, number=run.number, status=run.status,
                      trigger=run.trigger, user=run.user, branch=run.branch, commit=run.commit,
                      created_at=run.created_at, started_at=run.started_at,
                      finished_at=run.finished_at,
                      duration_seconds=seconds_between(run.started_at, run.finished_at)
                      if run.started_at else None, error=run.error)


def step_summary(summary: Any) -> StepSummary | None:
    if not isinstance(summary, dict):
        return None
    lines = summary.get("lines")
    title = summary.get("title")
    return StepSummary(title=str(title) if title is not None else None,
                       lines=[str(line) for line in lines] if isinstance(lines, list) else [],
                       figures={k: v for k, v in summary.items() if k not in ("title", "lines")})


def shown_variables(variables: dict[str, Any]) -> dict[str, str]:
    """A run's stored variables for people: sensitive ones as `(sensitive)`."""
    from flowplan.values import is_sensitive_marker

    return {name: "(sensitive)" if is_sensitive_marker(value) else
            value if isinstance(value, str) else json.dumps(value)
            for name, value in variables.items()}


def artifact_url(run: Any, name: str) -> str:
    from urllib.parse import quote

    return (f"/api/v1/runs/{quote(run.pipeline, safe='')}/{run.number}/artifacts/"
            f"{quote(name, safe='')}")


def run_detail(context: Any, ref: RunRef, user: str) -> RunDetail:
    service = context.service
    tree = service.show(ref)
    run = tree.run
    gates = service.gates(ref) if not Status(run.status).finished else []
    stages = []
    for stage in tree.stages:
        tasks = []
        for view in stage.tasks:
            task = view.record
            steps = [StepView(id=s.id, name=s.step, type=s.type, status=s.status,
                              attempt=s.attempt, started_at=s.started_at,
                              finished_at=s.finished_at,
                              duration_seconds=seconds_between(s.started_at, s.finished_at),
                              exit_code=s.exit_code, error=s.error, log_lines=s.log_lines,
                              summary=step_summary(s.summary)) for s in view.steps]
            tasks.append(TaskView(name=task.task, stage=task.stage, status=task.status,
                                  attempt=task.attempt, started_at=task.started_at,
                                  finished_at=task.finished_at,
                                  duration_seconds=seconds_between(task.started_at,
                                                                   task.finished_at),
                                  error=task.error, skip_reason=task.skip_reason,
                                  failure_allowed=task.failure_allowed, steps=steps))
        stages.append(StageView(name=stage.name, trigger=stage.trigger,
                                status=str(stage.status), tasks=tasks))
    return RunDetail(
        run=run_summary(run), variables=shown_variables(run.variables or {}), stages=stages,
        gates=[GateView(stage=g.stage, task=g.task, step=g.step, kind=g.kind,
                        description=g.description or "", who=g.rule.who(),
                        you_may_decide=g.kind == "pause" or g.rule.eligible(user))
               for g in gates],
        approvals=[ApprovalView(stage=a.stage, task=a.task, step=a.step, user=a.user,
                                decided_by=a.decided_by, decision=a.decision,
                                comment=a.comment, at=a.at) for a in tree.approvals],
        artifacts=[ArtifactView(name=a.name, size=a.size, sha256=a.sha256,
                                created_at=a.created_at, url=artifact_url(run, a.name))
                   for a in tree.artifacts])


# -- what the API and the dashboard both do --------------------------------------------------------

def find_run(context: Any, pipeline: str, number: int) -> Any:
    """The run's record; ApiError 404 when there is none."""
    try:
        return context.service.get(RunRef(pipeline, number))
    except RunServiceError as exc:
        raise ApiError(404, str(exc)) from None


def require_pipeline(context: Any, pipeline: str) -> Any:
    """The registered pipeline, or ApiError 404 (with the names there are)."""
    record = context.store.get_pipeline(pipeline)
    if record is None:
        names = ", ".join(p.name for p in context.store.list_pipelines()) or "none registered"
        raise ApiError(404, f"no pipeline named {pipeline!r} (pipelines: {names})")
    return record


def start_run(context: Any, pipeline: str, user: str, *, trigger: str,
              variables: dict[str, str] | None = None, branch: str | None = None,
              commit: str | None = None) -> Any:
    """A new run of a registered pipeline, driven by the launcher; ApiError 404 for an unknown
    pipeline, 409 when the launcher refuses."""
    require_pipeline(context, pipeline)
    try:
        return context.launcher.start(pipeline, trigger=trigger, user=user,
                                      variables=variables or None, branch=branch, commit=commit)
    except (LaunchRefused, RunServiceError) as exc:
        raise ApiError(409, str(exc)) from None


def _continue_values(context: Any, ref: str) -> dict[str, Any]:
    """The sensitive values the run needs to go on (engine.continue_values); 409 when one has
    no value any more."""
    from flowplan import engine
    from flowplan.executor.secrets import SecretError

    try:
        return engine.continue_values(context.service, ref, context.directory)
    except (engine.RunRefused, SecretError, RunServiceError) as exc:
        raise ApiError(409, str(exc)) from None


def in_background(context: Any, ref: str, action: Callable[[], Any]) -> None:
    """Hand `action` (a run service call that continues the run) to the launcher; 503 when the
    server is stopping and takes no more work."""
    try:
        context.launcher.continue_in_background(ref, action)
    except LaunchRefused as exc:
        raise ApiError(503, str(exc)) from None


def _not_running(run: Any, action: str) -> None:
    if Status(run.status) in (Status.QUEUED, Status.RUNNING):
        raise ApiError(409, f"{run.ref} is {run.status}: wait for it to stop, or cancel it, "
                            f"before you {action} it")


def decide_run(context: Any, pipeline: str, number: int, user: str, decision: str,
               comment: str | None = None, task: str | None = None) -> str:
    """Check that `user` may `decision` ("approve" or "reject") what the run waits for, then
    record it and continue the run in the background. ApiError 403 (who may) or 409 first,
    with nothing recorded."""
    run = find_run(context, pipeline, number)
    if Status(run.status).finished:
        raise ApiError(409, f"{run.ref} is {run.status}: there is nothing to {decision}")
    gates = context.service.gates(run.ref)
    if task is not None:
        gates = [g for g in gates if g.task == task or (g.task is None and g.stage == task)]
    decidable = [g for g in gates if g.kind != "pause"]
    if not decidable:
        which = f" at task {task}" if task else ""
        paused = " (its deploy is paused: resume it)" if gates else ""
        raise ApiError(409, f"{run.ref} is not waiting for a decision{which}{paused}")
    allowed = [g for g in decidable if g.rule.eligible(user)]
    if not allowed:
        who = "; ".join(f"{g.name}: {g.rule.who()}" for g in decidable)
        raise ApiError(403, f"{user} may not {decision} {run.ref}. Who may: {who}")
    earlier = context.store.approvals(run.id)
    if all(_decided(run, gate, earlier, user, decision) for gate in allowed):
        raise ApiError(409, f"{user} already decided ({decision}) on what {run.ref} waits for")
    values = _continue_values(context, run.ref)
    call = getattr(context.service, decision)
    in_background(context, run.ref, lambda: call(
        run.ref, user, comment, task=task, variables=values, sensitive=set(values),
        continue_run=True))
    _recorded(context, run, len(earlier))
    verb = "approved" if decision == "approve" else "rejected"
    return f"{verb} by {user}; the run continues"


def _decided(run: Any, gate: Any, earlier: list[Any], user: str, decision: str) -> bool:
    """Whether `user` already made `decision` on `gate` (a manual stage's decisions count from
    its gate floor on, as the run service counts them)."""
    from flowplan.executor.run.gates import GATE_FLOOR

    floor = 0 if gate.task is not None else \
        int((run.options.get(GATE_FLOOR) or {}).get(gate.stage, 0))
    return any(a.user == user and a.decision == decision and a.stage == gate.stage
               and a.task == gate.task and a.step_run_id == gate.step_run_id and a.id > floor
               for a in earlier)


def _recorded(context: Any, run: Any, before: int, timeout: float = DECISION_WAIT) -> None:
    """Wait (briefly) until the background call has recorded its decision, so that the page
    or the client reading the run next sees it; the run itself goes on without waiting."""
    deadline = time.monotonic() + timeout
    while context.store.approval_count(run.id) <= before and time.monotonic() < deadline:
        time.sleep(0.02)


def cancel_run(context: Any, pipeline: str, number: int, user: str) -> Any:
    run = find_run(context, pipeline, number)
    try:
        return context.service.cancel(run.ref, user=user)
    except RunServiceError as exc:
        raise ApiError(409, str(exc)) from None


def _task_of(context: Any, run: Any, name: str) -> Any:
    """The run's task `name` (TASK or STAGE/TASK); ApiError 404 naming the tasks there are."""
    stage, _, task = name.rpartition("/")
    tasks = context.store.task_runs(run.id)
    found = [t for t in tasks if t.task == task and (not stage or t.stage == stage)]
    if len(found) != 1:
        names = ", ".join(f"{t.stage}/{t.task}" for t in tasks)
        problem = "has several tasks named" if found else "has no task"
        raise ApiError(404 if not found else 409,
                       f"{run.ref} {problem} {name!r} (tasks: {names})")
    return found[0]


def retry_run(context: Any, pipeline: str, number: int, user: str,
              task: str | None = None) -> str:
    """Run the failed (or only `task`) again, in the background; 409 when there is nothing
    to retry."""
    run = find_run(context, pipeline, number)
    status = Status(run.status)
    _not_running(run, "retry")
    if status == Status.SUCCEEDED:
        raise ApiError(409, f"{run.ref} succeeded: there is nothing to retry")
    if status == Status.WAITING:
        raise ApiError(409, f"{run.ref} is waiting: approve, reject or resume it instead")
    if task is not None:
        record = _task_of(context, run, task)
        if record.status in (Status.SUCCEEDED, Status.RUNNING):
            raise ApiError(409, f"task {record.stage}/{record.task} of {run.ref} "
                                f"{record.status}: nothing to retry")
    values = _continue_values(context, run.ref)
    in_background(context, run.ref, lambda: context.service.retry(
        run.ref, task, variables=values, sensitive=set(values)))
    return f"retry started by {user}"


def skip_run_task(context: Any, pipeline: str, number: int, user: str, task: str) -> str:
    """Mark `task` skipped and continue the run past it, in the background."""
    run = find_run(context, pipeline, number)
    _not_running(run, "skip a task of")
    if Status(run.status) == Status.SUCCEEDED:
        raise ApiError(409, f"{run.ref} succeeded: there is nothing to skip")
    record = _task_of(context, run, task)
    if record.status in (Status.SUCCEEDED, Status.RUNNING) or (
            record.status == Status.SKIPPED and record.skip_reason not in ("upstream",
                                                                          "rejected")):
        raise ApiError(409, f"task {record.stage}/{record.task} of {run.ref} {record.status}: "
                            "nothing to skip")
    refusal = skip_refusal(context, run, record, user)
    if refusal is not None:
        raise ApiError(403, refusal)
    values = _continue_values(context, run.ref)
    in_background(context, run.ref, lambda: context.service.skip(
        run.ref, task, user=user, variables=values, sensitive=set(values)))
    return f"task {record.stage}/{record.task} skipped by {user}; the run continues"


def skip_refusal(context: Any, run: Any, task: Any, user: str) -> str | None:
    """Why `user` may not skip `task` (a TaskRunRecord), or None: skipping a task passes its
    `manual_approval` steps, so only who may decide those (not yet passed) may skip it."""
    from flowplan.executor.run.approval import ApprovalRule

    steps = ((((run.definition.get("stages") or {}).get(task.stage) or {}).get("tasks") or {})
             .get(task.task) or {}).get("steps") or {}
    passed = {s.step for s in context.store.step_runs(run.id, latest=True)
              if s.task_run_id == task.id and s.status == Status.SUCCEEDED}
    for name, attributes in steps.items():
        if not isinstance(attributes, dict) or attributes.get("type") != "manual_approval" \
                or name in passed:
            continue
        plain = {k: v for k, v in attributes.items() if not isinstance(v, dict)}
        rule = ApprovalRule.of(plain, context.store.role_members)
        if not rule.eligible(user):
            return (f"{user} may not skip task {task.stage}/{task.task} of {run.ref}: skipping "
                    f"it passes its approval step {name}, which {rule.who()} may decide")
    return None


def resume_run(context: Any, pipeline: str, number: int, user: str) -> str:
    """Continue an interrupted run, or a deploy paused between batches, in the background."""
    run = find_run(context, pipeline, number)
    status = Status(run.status)
    paused = status == Status.WAITING and any(
        g.kind == "pause" for g in context.service.gates(run.ref))
    if status != Status.INTERRUPTED and not paused:
        raise ApiError(409, f"{run.ref} is {run.status}: only an interrupted run or a paused "
                            "deploy can be resumed")
    values = _continue_values(context, run.ref)
    before = context.store.approval_count(run.id)
    in_background(context, run.ref, lambda: context.service.resume(
        run.ref, variables=values, sensitive=set(values), user=user))
    if paused:
        _recorded(context, run, before)
    return f"resumed by {user}"


def log_page(context: Any, run: Any, *, task: str | None = None, step: str | None = None,
             after: str | None = None, limit: int = LOG_PAGE) -> LogPage:
    """Up to `limit` stored lines of the run (or of some of its steps) after the cursor
    `after` ("CHUNK.LINE", as given back in `next`), oldest first."""
    chunk_after, line_after = 0, -1
    if after:
        match = _CURSOR.fullmatch(after)
        if match is None:
            raise ApiError(422, "after: not a cursor given back by this API (CHUNK.LINE)")
        chunk_after, line_after = int(match.group(1)), int(match.group(2))
    steps = {s.id: s for s in context.store.step_runs(run.id)}
    chosen = None
    if task is not None or step is not None:
        chosen = [i for i, s in steps.items() if (task is None or s.task == task)
                  and (step is None or s.step == step)]
        if not chosen:
            names = ", ".join(sorted({f"{s.task}/{s.step}" for s in steps.values()}))
            raise ApiError(404, f"{run.ref} has no step matching {task or '*'}/{step or '*'} "
                                f"(steps: {names or 'none yet'})")
    status = context.store.run_status(run.id) or run.status
    lines: list[LogLineView] = []
    start = max(chunk_after - 1, 0)
    while len(lines) < limit:
        chunks = context.store.log_chunks(run.id, step_run_ids=chosen, after_id=start,
                                          limit=100)
        for chunk in chunks:
            owner = steps.get(chunk.step_run_id)
            if owner is None:       # a step recorded after the steps were read
                steps.update({s.id: s for s in context.store.step_runs(run.id)})
                owner = steps[chunk.step_run_id]
            for offset, text in enumerate(chunk.lines()):
                if chunk.id < chunk_after or (chunk.id == chunk_after and offset <= line_after):
                    continue
                lines.append(LogLineView(stage=owner.stage, task=owner.task, step=owner.step,
                                         step_id=owner.id, attempt=owner.attempt,
                                         seq=chunk.first_seq + offset, at=chunk.at,
                                         stream=chunk.stream, text=text,
                                         cursor=f"{chunk.id}.{offset}"))
                if len(lines) == limit:
                    break
            if len(lines) == limit:
                break
        if len(chunks) < 100:
            break
        start = chunks[-1].id
    return LogPage(lines=lines, next=lines[-1].cursor if lines else after,
                   more=len(lines) == limit, run_status=status)


# -- routes ----------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", tags=["api"], route_class=JsonErrorRoute,
                   default_response_class=SafeJSONResponse,
                   responses={400: {"model": ErrorBody, "description": "Body is not JSON"},
                              401: {"model": ErrorBody, "description": "Not authenticated"},
                              403: {"model": ErrorBody, "description": "Not allowed"},
                              422: {"model": ErrorBody, "description": "Invalid request"}})

_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such pipeline or run"}}
_REFUSED = {**_NOT_FOUND, 409: {"model": ErrorBody, "description": "Not in this state"},
            503: {"model": ErrorBody, "description": "The server is stopping"}}

PipelineName = Annotated[str, PathParam(min_length=1, max_length=MAX_NAME,
                                        examples=["app"])]
RunNumber = Annotated[int, PathParam(ge=1, le=MAX_RUN_NUMBER, examples=[1])]


@router.get("/pipelines", response_model=PipelineList)
def list_pipelines(request: Request, user: User) -> PipelineList:
    """The registered pipelines, each with its last run."""
    context = context_of(request)
    found = []
    for record in sorted(context.store.list_pipelines(), key=lambda p: p.name):
        last = context.store.list_runs(record.name, limit=1)
        found.append(PipelineSummary(
            name=record.name, description=text_of(record.definition.get("description")),
            last_run=run_summary(last[0]) if last else None))
    return PipelineList(pipelines=found)


def filtered_runs(context: Any, pipeline: str, *, status: str | None, branch: str | None,
                  trigger: str | None, limit: int) -> list[Any]:
    """The pipeline's newest runs matching the filters (branch and trigger among the newest
    FILTER_WINDOW runs)."""
    statuses = [status] if status else None
    window = limit if branch is None and trigger is None else max(limit, FILTER_WINDOW)
    runs = context.store.list_runs(pipeline, limit=window, statuses=statuses)
    return [r for r in runs if (branch is None or r.branch == branch)
            and (trigger is None or r.trigger == trigger)][:limit]


@router.get("/pipelines/{pipeline}/runs", response_model=RunList, responses=_NOT_FOUND)
def list_runs(request: Request, user: User, pipeline: PipelineName,
              status: Status | None = None,
              branch: Annotated[str | None, Query(max_length=MAX_NAME)] = None,
              trigger: Annotated[str | None, Query(max_length=MAX_NAME)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> RunList:
    """A pipeline's runs, newest first, filtered by status, branch and trigger."""
    context = context_of(request)
    runs = filtered_runs(context, pipeline, status=status.value if status else None,
                         branch=branch, trigger=trigger, limit=limit)
    if not runs and context.store.get_pipeline(pipeline) is None:
        require_pipeline(context, pipeline)
    return RunList(runs=[run_summary(r) for r in runs])


@router.post("/pipelines/{pipeline}/runs", response_model=RunSummary, status_code=202,
             responses=_REFUSED)
def create_run(request: Request, user: User, pipeline: PipelineName,
               body: Annotated[RunRequest | None, Body()] = None) -> RunSummary:
    """Start a run of the pipeline's applied definition (trigger `api`, as the authenticated
    user); it runs in the background. 409 when the server refuses to start it."""
    body = body or RunRequest()
    run = start_run(context_of(request), pipeline, user, trigger="api",
                    variables=dict(body.variables), branch=body.branch, commit=body.commit)
    return run_summary(run)


@router.get("/runs/{pipeline}/{number}", response_model=RunDetail, responses=_NOT_FOUND)
def show_run(request: Request, user: User, pipeline: PipelineName,
             number: RunNumber) -> RunDetail:
    """The run: stages, tasks and steps with status, times and summaries; what it waits for
    and who may decide; decisions made; artifacts."""
    context = context_of(request)
    run = find_run(context, pipeline, number)
    try:
        return run_detail(context, RunRef(run.pipeline, run.number), user)
    except RunNotFound as exc:
        raise ApiError(404, str(exc)) from None


@router.post("/runs/{pipeline}/{number}/approve", response_model=ActionAccepted,
             status_code=202, responses=_REFUSED)
def approve(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
            body: Annotated[DecisionRequest | None, Body()] = None) -> ActionAccepted:
    """Approve what the run waits for (as the authenticated user); the run then continues in
    the background. 403 with who may, when the user may not."""
    body = body or DecisionRequest()
    message = decide_run(context_of(request), pipeline, number, user, "approve",
                         body.comment, body.task)
    return ActionAccepted(ref=f"{pipeline}#{number}", action="approve", message=message)


@router.post("/runs/{pipeline}/{number}/reject", response_model=ActionAccepted,
             status_code=202, responses=_REFUSED)
def reject(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
           body: Annotated[DecisionRequest | None, Body()] = None) -> ActionAccepted:
    """Reject what the run waits for: the approval fails, and with it the run."""
    body = body or DecisionRequest()
    message = decide_run(context_of(request), pipeline, number, user, "reject",
                         body.comment, body.task)
    return ActionAccepted(ref=f"{pipeline}#{number}", action="reject", message=message)


@router.post("/runs/{pipeline}/{number}/cancel", response_model=RunSummary,
             responses=_REFUSED)
def cancel(request: Request, user: User, pipeline: PipelineName,
           number: RunNumber) -> RunSummary:
    """Cancel the run and stop its running steps."""
    return run_summary(cancel_run(context_of(request), pipeline, number, user))


@router.post("/runs/{pipeline}/{number}/retry", response_model=ActionAccepted,
             status_code=202, responses=_REFUSED)
def retry(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
          body: Annotated[TaskRequest | None, Body()] = None) -> ActionAccepted:
    """Run the failed tasks again (or only `task`), keeping what succeeded."""
    body = body or TaskRequest()
    message = retry_run(context_of(request), pipeline, number, user, body.task)
    return ActionAccepted(ref=f"{pipeline}#{number}", action="retry", message=message)


@router.post("/runs/{pipeline}/{number}/resume", response_model=ActionAccepted,
             status_code=202, responses=_REFUSED)
def resume(request: Request, user: User, pipeline: PipelineName,
           number: RunNumber) -> ActionAccepted:
    """Continue an interrupted run, or a deploy paused between batches."""
    message = resume_run(context_of(request), pipeline, number, user)
    return ActionAccepted(ref=f"{pipeline}#{number}", action="resume", message=message)


@router.post("/runs/{pipeline}/{number}/skip", response_model=ActionAccepted,
             status_code=202, responses=_REFUSED)
def skip(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
         body: SkipRequest) -> ActionAccepted:
    """Mark a task that did not succeed skipped, and continue the run past it."""
    message = skip_run_task(context_of(request), pipeline, number, user, body.task)
    return ActionAccepted(ref=f"{pipeline}#{number}", action="skip", message=message)


@router.get("/runs/{pipeline}/{number}/logs", response_model=LogPage, responses=_NOT_FOUND)
def logs(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
         task: Annotated[str | None, Query(max_length=MAX_NAME)] = None,
         step: Annotated[str | None, Query(max_length=MAX_NAME)] = None,
         after: Annotated[str | None, Query(max_length=40)] = None,
         limit: Annotated[int, Query(ge=1, le=LOG_PAGE)] = LOG_PAGE) -> LogPage:
    """The run's log lines, oldest first, a page at a time: give `next` back as `after`."""
    context = context_of(request)
    return log_page(context, find_run(context, pipeline, number), task=task, step=step,
                    after=after, limit=limit)


def artifact_file(context: Any, pipeline: str, number: int, name: str) -> FileResponse:
    """The artifact's file, found by name in the run's records (the path is the store's,
    never the request's); 404 when there is none or it is no longer kept."""
    run = find_run(context, pipeline, number)
    for record in context.store.artifacts(run.id):
        if record.name == name:
            path = Path(record.path)
            if not path.is_file():
                raise ApiError(404, f"artifact {name!r} of {run.ref} is no longer kept")
            return FileResponse(path, media_type="application/octet-stream",
                                filename=path.name if path.name else name)
    names = ", ".join(a.name for a in context.store.artifacts(run.id)) or "none"
    raise ApiError(404, f"{run.ref} has no artifact {name!r} (artifacts: {names})")


@router.get("/runs/{pipeline}/{number}/artifacts/{name}", response_class=FileResponse,
            responses={**_NOT_FOUND, 200: {"content": {"application/octet-stream": {}},
                                           "description": "The artifact's file"}})
def artifact(request: Request, user: User, pipeline: PipelineName, number: RunNumber,
             name: Annotated[str, PathParam(min_length=1, max_length=MAX_NAME)]
             ) -> FileResponse:
    """Download an artifact of the run."""
    return artifact_file(context_of(request), pipeline, number, name)
