"""The web dashboard: server-rendered pages over the same calls as the REST API.

    /login, /logout                      the session (form fields `username`, `password`)
    /                                    pipelines, each with its last run
    /pipelines/NAME                      its stages -> tasks -> steps, run history, a Run form
    /runs/NAME/NUMBER                    the run: graph with statuses and durations, logs per
                                         step, summaries, artifacts, the decision buttons
    /runs/NAME/NUMBER/events             server-sent events: new log lines and status changes
    /static/NAME                         the one stylesheet and the one script

Pages need a session (else a redirect to /login?next=...); every form that changes something
carries the session's CSRF token (field `csrf_token`), and every action is recorded as the
session's user. The login form carries a token of its own, also set as a cookie for /login
(SameSite=Strict), so that another site cannot log a browser into someone else's account.
Templates are Jinja2 with autoescaping on: run data (log lines hold any bytes a step printed,
names come from configs) is only ever inserted escaped, and the script inserts what the event
stream sends as text, never as HTML. Pages are sent with a Content-Security-Policy
that allows only this server's own script and stylesheet.

What an action does and when it is refused is flowplan.server.api's (`decide_run`, `retry_run`
...): the dashboard shows the refusal's message on the run page with its status code.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.templating import Jinja2Templates

from flowplan.executor.run.refs import MAX_RUN_NUMBER, RunRef
from flowplan.executor.status import Status
from flowplan.server import api
from flowplan.server.api import ApiError, context_of
from flowplan.server.auth import CSRF_FIELD, SESSION_COOKIE
from flowplan.views.run_text import duration

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
PAGE_LOG_LINES = 2000        # log lines put in the run page; the event stream sends the rest
EVENT_POLL = 0.25            # seconds between looks at the store for the event stream
KEEPALIVE = 15.0             # seconds between comments that keep an idle stream open
MAX_NEXT = 2000
ACTIONS = ("approve", "reject", "retry", "skip", "resume", "cancel")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_UNFIT_NEXT = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_LOGIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
LOGIN_COOKIE = "flowplan_login"    # the login form's token (double submit: cookie and field)
LOGIN_FIELD = "login_token"

PipelineName = Annotated[str, PathParam(min_length=1, max_length=api.MAX_NAME)]
RunNumber = Annotated[int, PathParam(ge=1, le=MAX_RUN_NUMBER)]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _duration(seconds: float | None) -> str:
    return duration(seconds) if seconds is not None else ""


def _url(value: Any) -> str:
    """One path segment, percent-encoded."""
    return quote(str(value), safe="")


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_environment.filters.update(when=_when, duration=_duration, url=_url)
templates = Jinja2Templates(env=_environment)

router = APIRouter(include_in_schema=False)


# -- sessions -------------------------------------------------------------------------------------

def page_session(request: Request) -> Any:
    """The request's session (flowplan.server.auth.Session) or None: also None for a session
    of a user who is not a member of the server's team (a cookie of another team's server on
    the same host), who is sent to the login form, which says so."""
    auth = context_of(request).auth
    session = auth.session(request.cookies.get(SESSION_COOKIE))
    if session is not None and not auth.is_member(session.user):
        return None
    return session


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def local_next(value: str | None) -> str:
    """`value` when it is a path on this server (`/runs/app/3`), else `/`: never another
    site (`//evil.example`, `/\\evil.example`, `https://...`)."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/") \
            or value.startswith("//") or _UNFIT_NEXT.search(value):
        return "/"
    return value


def page(request: Request, template: str, session: Any, status_code: int = 200,
         **values: Any) -> HTMLResponse:
    values.setdefault("error", None)
    values.setdefault("notice", None)
    return templates.TemplateResponse(
        request, template, {"user": session.user if session else None,
                        "csrf": session.csrf if session else "", "csrf_field": CSRF_FIELD,
                        **values}, status_code=status_code, headers=SECURITY_HEADERS)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form's text fields (files are refused by being ignored)."""
    form = await request.form(max_files=0, max_fields=200)
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def csrf_refused(request: Request, session: Any, form: dict[str, str]) -> HTMLResponse | None:
    if context_of(request).auth.csrf_ok(session, form.get(CSRF_FIELD)):
        return None
    return page(request, "error.html", session, 403,
                error="The form's CSRF token is missing or wrong: reload the page and try "
                      "again.")


# -- static files ---------------------------------------------------------------------------------

@router.get("/static/{name}")
def static(name: str) -> Response:
    """The stylesheet and the script; only files that are in the static folder."""
    if name not in {p.name for p in STATIC.iterdir() if p.is_file()} \
            or Path(name).suffix not in STATIC_TYPES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC / name, media_type=STATIC_TYPES[Path(name).suffix],
                        headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})


# -- login ----------------------------------------------------------------------------------------

def login_page(request: Request, *, next: str, username: str = "", error: str | None = None,
               status_code: int = 200) -> HTMLResponse:
    """The login form, with the token that ties a POST to a form this server gave out (kept in
    a cookie too: a form posted from another site has no way to send both)."""
    token = request.cookies.get(LOGIN_COOKIE) or ""
    if not _LOGIN_TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(32)
    response = page(request, "login.html", None, status_code, next=next, username=username,
                    error=error, login_token=token)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    session = page_session(request)
    if session is not None:
        return RedirectResponse(local_next(next), status_code=303)
    return login_page(request, next=local_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await form_of(request)
    username, password = form.get("username", ""), form.get("password", "")
    target = local_next(form.get("next"))
    shown = username[:api.MAX_NAME]
    cookie, given = request.cookies.get(LOGIN_COOKIE) or "", form.get(LOGIN_FIELD) or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
        return login_page(request, next=target, username=shown, status_code=403,
                          error="The login form has expired: log in again.")
    context = context_of(request)
    name = None
    if 0 < len(username) <= api.MAX_NAME and 0 < len(password) <= 1024:
        name = await run_in_threadpool(context.auth.check_password, username, password)
    if name is None:
        return login_page(request, next=target, username=shown, status_code=401,
                          error="Wrong user name or password.")
    if not await run_in_threadpool(context.auth.is_member, name):
        return login_page(request, next=target, username=shown, status_code=403,
                          error=context.auth.not_member_message(name) + ".")
    session = await run_in_threadpool(context.auth.open_session, name)
    response = RedirectResponse(target, status_code=303)
    max_age = max(0, math.ceil((session.expires_at - datetime.now(session.expires_at.tzinfo))
                               .total_seconds()))
    response.set_cookie(SESSION_COOKIE, session.cookie, max_age=max_age, path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await run_in_threadpool(page_session, request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    refused = csrf_refused(request, session, await form_of(request))
    if refused is not None:
        return refused
    await run_in_threadpool(context_of(request).auth.close_session, session.cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


# -- pipelines ------------------------------------------------------------------------------------

@router.get("/")
def pipelines(request: Request) -> Response:
    session = page_session(request)
    if session is None:
        return to_login(request)
    listing = api.list_pipelines(request, session.user)
    return page(request, "pipelines.html", session, pipelines=listing.pipelines)


def pipeline_graph(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Stages -> tasks -> steps of a definition, in order, for the page."""
    stages = []
    for name, stage in sorted((definition.get("stages") or {}).items(),
                              key=lambda item: item[1].get("index", 0)):
        tasks = []
        for task_name, task in (stage.get("tasks") or {}).items():
            steps = [{"name": step_name, "type": str(step.get("type", ""))}
                     for step_name, step in sorted((task.get("steps") or {}).items(),
                                                   key=lambda item: item[1].get("index", 0))]
            tasks.append({"name": task_name, "needs": list(task.get("needs") or []),
                          "steps": steps})
        stages.append({"name": name, "trigger": stage.get("trigger", "auto"), "tasks": tasks})
    return stages


def variable_defaults(definition: dict[str, Any]) -> dict[str, str]:
    """The pipeline's `variables` with their values as text (a value known only at run time
    shows empty)."""
    return {name: value if isinstance(value, str) else
            "" if isinstance(value, dict) else json.dumps(value)
            for name, value in (definition.get("variables") or {}).items()}


@router.get("/pipelines/{name}")
def pipeline_page(request: Request, name: PipelineName,
                  status: Annotated[str | None, Query(max_length=20)] = None,
                  branch: Annotated[str | None, Query(max_length=api.MAX_NAME)] = None,
                  trigger: Annotated[str | None, Query(max_length=api.MAX_NAME)] = None
                  ) -> Response:
    session = page_session(request)
    if session is None:
        return to_login(request)
    return _pipeline_page(request, session, name, status or None, branch or None,
                          trigger or None)


def _pipeline_page(request: Request, session: Any, name: str, status: str | None,
                   branch: str | None, trigger: str | None, *, error: str | None = None,
                   status_code: int = 200, values: dict[str, str] | None = None) -> Response:
    context = context_of(request)
    record = context.store.get_pipeline(name)
    if record is None:
        return page(request, "error.html", session, 404,
                    error=f"No pipeline named {name!r}.")
    if status not in {s.value for s in Status}:
        status = None
    runs = api.filtered_runs(context, name, status=status, branch=branch, trigger=trigger,
                             limit=50)
    defaults = variable_defaults(record.definition)
    return page(request, "pipeline.html", session, status_code, error=error, name=name,
                description=api.text_of(record.definition.get("description")),
                stages=pipeline_graph(record.definition), runs=[api.run_summary(r) for r in runs],
                statuses=[s.value for s in Status],
                triggers=["manual", "api", "dashboard", "webhook", "schedule", "rollback"],
                chosen={"status": status or "", "branch": branch or "", "trigger": trigger or ""},
                variables={**defaults, **(values or {})})


@router.post("/pipelines/{name}/runs")
async def start_from_page(request: Request, name: PipelineName) -> Response:
    session = await run_in_threadpool(page_session, request)
    if session is None:
        return to_login(request)
    form = await form_of(request)
    refused = csrf_refused(request, session, form)
    if refused is not None:
        return refused
    context = context_of(request)
    record = await run_in_threadpool(context.store.get_pipeline, name)
    defaults = variable_defaults(record.definition) if record else {}
    given = {key[4:]: value for key, value in form.items() if key.startswith("var_")}
    variables = {k: v for k, v in given.items() if k not in defaults or v != defaults[k]}
    try:
        body = api.RunRequest(variables=variables, branch=form.get("branch") or None,
                              commit=form.get("commit") or None)
        run = await run_in_threadpool(
            api.start_run, context, name, session.user, trigger="dashboard",
            variables=dict(body.variables), branch=body.branch, commit=body.commit)
    except ApiError as exc:
        return await run_in_threadpool(_pipeline_page, request, session, name, None, None, None,
                                       error=exc.message, status_code=exc.status, values=given)
    except ValueError as exc:      # pydantic's ValidationError
        return await run_in_threadpool(
            _pipeline_page, request, session, name, None, None, None, status_code=422,
            error=api.validation_message(getattr(exc, "errors", list)()), values=given)
    return RedirectResponse(f"/runs/{_url(run.pipeline)}/{run.number}", status_code=303)


# -- runs -----------------------------------------------------------------------------------------

@router.get("/runs/{name}/{number}")
def run_page(request: Request, name: PipelineName, number: RunNumber) -> Response:
    session = page_session(request)
    if session is None:
        return to_login(request)
    return _run_page(request, session, name, number)


def _run_page(request: Request, session: Any, name: str, number: int, *,
              error: str | None = None, status_code: int = 200) -> Response:
    context = context_of(request)
    try:
        run = api.find_run(context, name, number)
        detail = api.run_detail(context, RunRef(run.pipeline, run.number), session.user)
        logs = api.log_page(context, run, limit=PAGE_LOG_LINES)
    except ApiError as exc:
        return page(request, "error.html", session, exc.status, error=exc.message)
    lines: dict[int, list[Any]] = {}
    for line in logs.lines:
        lines.setdefault(line.step_id, []).append(line)
    status = Status(detail.run.status)
    gates = detail.gates
    decide = [g for g in gates if g.kind != "pause" and g.you_may_decide]
    paused = [g for g in gates if g.kind == "pause"]
    buttons = {
        "decide": bool(decide),
        "resume": bool(paused) or status == Status.INTERRUPTED,
        "retry": status in (Status.FAILED, Status.CANCELED),
        "cancel": not status.finished,
        "skip": status not in (Status.SUCCEEDED, Status.QUEUED, Status.RUNNING),
    }
    skippable = set()
    if buttons["skip"]:
        for task in context.store.task_runs(run.id):
            if task.status not in (Status.SUCCEEDED, Status.RUNNING, Status.SKIPPED) and \
                    api.skip_refusal(context, run, task, session.user) is None:
                skippable.add((task.stage, task.task))
    return page(request, "run.html", session, status_code, error=error, detail=detail,
                skippable=skippable,
                run=detail.run, lines=lines, cursor=logs.next or "", more_logs=logs.more,
                buttons=buttons, decide=decide, paused=paused,
                waiting_for_others=[g for g in gates if g.kind != "pause"
                                    and not g.you_may_decide],
                finished=status.finished)


@router.post("/runs/{name}/{number}/{action}")
async def run_action(request: Request, name: PipelineName, number: RunNumber,
                     action: str) -> Response:
    """A button of the run page: approve, reject, retry, skip, resume or cancel."""
    session = await run_in_threadpool(page_session, request)
    if session is None:
        return to_login(request)
    if action not in ACTIONS:
        return page(request, "error.html", session, 404, error=f"No action {action[:40]!r}.")
    form = await form_of(request)
    refused = csrf_refused(request, session, form)
    if refused is not None:
        return refused
    context = context_of(request)
    user = session.user
    task = form.get("task") or None
    comment = form.get("comment") or None
    try:
        checked = api.DecisionRequest(comment=comment, task=task)
        task, comment = checked.task, checked.comment
    except ValueError as exc:
        return await run_in_threadpool(
            _run_page, request, session, name, number, status_code=422,
            error=api.validation_message(getattr(exc, "errors", list)()))
    try:
        if action in ("approve", "reject"):
            await run_in_threadpool(api.decide_run, context, name, number, user, action,
                                    comment, task)
        elif action == "retry":
            await run_in_threadpool(api.retry_run, context, name, number, user, task)
        elif action == "skip":
            if task is None:
                raise ApiError(422, "skip: which task? (field task)")
            await run_in_threadpool(api.skip_run_task, context, name, number, user, task)
        elif action == "resume":
            await run_in_threadpool(api.resume_run, context, name, number, user)
        else:
            await run_in_threadpool(api.cancel_run, context, name, number, user)
    except ApiError as exc:
        return await run_in_threadpool(_run_page, request, session, name, number,
                                       error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/runs/{_url(name)}/{number}", status_code=303)


@router.get("/runs/{name}/{number}/artifacts/{artifact}")
def artifact_download(request: Request, name: PipelineName, number: RunNumber,
                      artifact: Annotated[str, PathParam(min_length=1,
                                                         max_length=api.MAX_NAME)]) -> Response:
    session = page_session(request)
    if session is None:
        return to_login(request)
    try:
        return api.artifact_file(context_of(request), name, number, artifact)
    except ApiError as exc:
        return page(request, "error.html", session, exc.status, error=exc.message)


# -- the event stream -----------------------------------------------------------------------------

def _event(kind: str, data: Any) -> str:
    """One server-sent event; the data is JSON (one line: JSON escapes newlines)."""
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n"


def status_snapshot(context: Any, run_id: int) -> dict[str, Any]:
    """The run's status and its steps' (the latest attempt's), for the event stream."""
    status = context.store.run_status(run_id)
    steps = context.store.step_runs(run_id, latest=True)
    return {"run": status, "steps": {str(s.id): s.status for s in steps}}


async def run_events(request: Request, context: Any, run: Any, after: str | None):
    """Log lines after `after` and status changes until the run finishes (or the client goes
    away); waiting runs keep their stream open, since a decision continues them."""
    cursor = after
    last: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        snapshot = await run_in_threadpool(status_snapshot, context, run.id)
        try:
            logs = await run_in_threadpool(api.log_page, context, run, after=cursor, limit=500)
        except ApiError as exc:
            yield _event("error", {"error": exc.message})
            return
        for line in logs.lines:
            yield _event("log", {"step": line.step_id, "task": line.task, "name": line.step,
                                 "stream": line.stream, "text": line.text,
                                 "cursor": line.cursor})
        cursor = logs.next
        if snapshot != last:
            yield _event("status", snapshot)
            last = snapshot
            quiet_since = time.monotonic()
        if logs.more:
            continue
        if snapshot["run"] is None or Status(snapshot["run"]).finished:
            yield _event("end", {"status": snapshot["run"]})
            return
        if logs.lines:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(EVENT_POLL)


@router.get("/runs/{name}/{number}/events")
def events(request: Request, name: PipelineName, number: RunNumber,
           after: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """Server-sent events of the run: `log` (a line, JSON), `status` (the run's and its
    steps'), `end` when it finished."""
    if page_session(request) is None:
        return Response("log in first", status_code=401, media_type="text/plain")
    context = context_of(request)
    try:
        run = api.find_run(context, name, number)
        if after:
            api.log_page(context, run, after=after, limit=1)     # a bad cursor: 422 now
    except ApiError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return StreamingResponse(run_events(request, context, run, after),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
