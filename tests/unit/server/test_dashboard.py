"""The dashboard in-process: login and sessions (cookie flags, local `next` only, logout with
CSRF), pages behind the login, the Run form, the decision buttons for who may decide, CSRF on
every form, actions recorded as the session's user, escaping of everything runs hold, artifact
downloads, and the run's event stream (over a real uvicorn for lines arriving while a run goes
on)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import httpx
import pytest
from markupsafe import escape

from web_app import serve
from web_workspace import PASSWORDS, login_token, web  # noqa: F401  (the fixture)

PAGES = ["/", "/pipelines/release", "/runs/release/1", "/runs/release/1/artifacts/package"]


def approvals_of(web, ref: str) -> list:
    return web.context.store.approvals(web.context.service.get(ref).id)


def waiting_release(web) -> str:
    ref = web.start("release")
    web.wait(ref, "waiting")
    return ref


# -- login -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_pages_send_the_anonymous_to_the_login_with_next(web, path):
    waiting_release(web)
    response = web.client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path.replace("/", "%2F")


def test_login_sets_an_httponly_samesite_session_cookie_and_goes_to_next(web):
    form = web.client.get("/login?next=/pipelines/release")
    assert 'name="username"' in form.text and 'name="password"' in form.text
    assert 'name="next" value="/pipelines/release"' in form.text
    response = web.client.post("/login", data={"username": "alice",
                                               "password": PASSWORDS["alice"],
                                               "next": "/pipelines/release",
                                               "login_token": login_token(web.client)},
                               follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/pipelines/release"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("flowplan_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert web.client.get("/").status_code == 200


def test_the_session_cookie_is_secure_over_https(web):
    from fastapi.testclient import TestClient

    with TestClient(web.app, base_url="https://dashboard.example") as client:
        form = client.get("/login")
        assert "Secure" in form.headers["set-cookie"]          # the login form's token
        response = client.post("/login", data={"username": "bob", "password": PASSWORDS["bob"],
                                               "login_token": login_token(client)},
                               follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("username,password", [
    ("alice", "wrong"), ("mallory", "anything"), ("", ""), ("alice", ""),
    ("a" * 300, "x"), ("alice", PASSWORDS["bob"]),
])
def test_a_wrong_login_is_401_with_no_cookie(web, username, password):
    response = web.client.post("/login", data={"username": username, "password": password,
                                               "login_token": login_token(web.client)},
                               follow_redirects=False)
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert "flowplan_session" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("token", [None, "", "forged-token-" + "x" * 30, "other"])
def test_a_login_posted_without_the_forms_own_token_is_refused(web, token):
    """A form posted from another site cannot carry the token of the login cookie."""
    if token == "other":
        login_token(web.client)                         # a cookie, but the field is another's
        token = "A" * 43
    data = {"username": "alice", "password": PASSWORDS["alice"]}
    if token is not None:
        data["login_token"] = token
    response = web.client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "The login form has expired" in response.text
    assert "flowplan_session" not in response.headers.get("set-cookie", "")
    again = web.client.post("/login", data={**data, "login_token": login_token(web.client)},
                            follow_redirects=False)
    assert again.status_code == 303


@pytest.mark.parametrize("target,expected", [
    ("/runs/release/1", "/runs/release/1"),
    ("/pipelines/release?status=failed", "/pipelines/release?status=failed"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("https://evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("/\tevil", "/"),
    ("", "/"),
])
def test_login_goes_on_only_to_a_local_path(web, target, expected):
    response = web.client.post("/login", data={"username": "alice",
                                               "password": PASSWORDS["alice"], "next": target,
                                               "login_token": login_token(web.client)},
                               follow_redirects=False)
    assert response.headers["location"] == expected


def test_a_forged_or_expired_session_goes_back_to_the_login(web):
    web.client.cookies.set("flowplan_session", "forged")
    assert web.client.get("/", follow_redirects=False).status_code == 303
    web.client.cookies.clear()
    web.login("bob")
    cookie = web.client.cookies.get("flowplan_session")
    web.context.auth.close_session(cookie)
    response = web.client.get("/pipelines/release", follow_redirects=False)
    assert response.headers["location"] == "/login?next=%2Fpipelines%2Frelease"


def test_logout_needs_the_csrf_token_then_ends_the_session(web):
    csrf = web.login("alice")
    refused = web.client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert web.client.get("/", follow_redirects=False).status_code == 200
    done = web.client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert web.client.get("/", follow_redirects=False).status_code == 303


# -- pages -----------------------------------------------------------------------------------------

def test_the_pipelines_page_lists_pipelines_with_the_last_run_status(web):
    web.start("quick")
    web.wait("quick#1", "succeeded")
    web.login("bob")
    response = web.client.get("/")
    assert response.status_code == 200
    for name in ("release", "quick", "flaky", "rollout", "slow"):
        assert f'href="/pipelines/{name}"' in response.text
    assert 'href="/runs/quick/1"' in response.text
    assert 'status-succeeded">succeeded<' in response.text
    assert "Content-Security-Policy" in response.headers
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_the_pipeline_page_shows_the_graph_the_run_form_and_filtered_history(web):
    web.start("quick")
    web.wait("quick#1", "succeeded")
    definition = web.context.store.get_pipeline("quick").definition
    web.context.service.create("quick", definition, trigger="webhook", branch="dev")
    web.login("bob")
    page = web.client.get("/pipelines/release").text
    for name in ("build", "compile", "hello", "package", "gate", "approval", "deploy", "ship"):
        assert f">{name}<" in page, name
    assert 'name="var_greeting" value="hello"' in page
    assert ">Run</button>" in page
    history = web.client.get("/pipelines/quick").text
    assert 'href="/runs/quick/1"' in history and 'href="/runs/quick/2"' in history
    only_webhook = web.client.get("/pipelines/quick", params={"trigger": "webhook"}).text
    assert 'href="/runs/quick/2"' in only_webhook and 'href="/runs/quick/1"' not in only_webhook
    only_succeeded = web.client.get("/pipelines/quick", params={"status": "succeeded"}).text
    assert 'href="/runs/quick/1"' in only_succeeded
    assert 'href="/runs/quick/2"' not in only_succeeded
    only_dev = web.client.get("/pipelines/quick", params={"branch": "dev"}).text
    assert 'href="/runs/quick/2"' in only_dev and 'href="/runs/quick/1"' not in only_dev
    assert web.client.get("/pipelines/nope").status_code == 404


def test_the_run_form_starts_a_run_as_the_session_user_with_csrf_only(web):
    csrf = web.login("bob")
    refused = web.client.post("/pipelines/release/runs", data={"var_greeting": "hi"},
                              follow_redirects=False)
    assert refused.status_code == 403
    assert web.context.service.list_runs() == []
    response = web.client.post("/pipelines/release/runs",
                               data={"csrf_token": csrf, "var_greeting": "hej", "branch": ""},
                               follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/runs/release/1"
    run = web.wait("release#1", "waiting")
    assert (run.user, run.trigger) == ("bob", "dashboard")
    assert [line.text for line in web.context.service.logs("release#1", step="hello")] == [
        "hej from build"]


def test_the_run_form_shows_a_refusal_on_the_pipeline_page(web):
    csrf = web.login("bob")
    response = web.client.post("/pipelines/release/runs",
                               data={"csrf_token": csrf, "var_colour": "red"})
    assert response.status_code == 409
    assert "has no pipeline variable &#34;colour&#34;" in response.text
    bad = web.client.post("/pipelines/release/runs",
                          data={"csrf_token": csrf, "commit": "not hex"})
    assert bad.status_code == 422
    assert web.context.service.list_runs() == []


def test_approve_and_reject_show_only_to_who_may_decide(web):
    waiting_release(web)
    web.login("bob")
    as_bob = web.client.get("/runs/release/1").text
    assert ">Approve</button>" not in as_bob and ">Reject</button>" not in as_bob
    assert "Who may decide: a member of role ops (alice)" in as_bob
    web.client.cookies.clear()
    web.login("alice")
    as_alice = web.client.get("/runs/release/1").text
    assert ">Approve</button>" in as_alice and ">Reject</button>" in as_alice
    assert ">Cancel</button>" in as_alice
    assert "Ship it?" in as_alice
    skip_approval = 'name="task" value="gate/approval"'
    assert skip_approval in as_alice and skip_approval not in as_bob


def test_a_decision_form_without_csrf_records_nothing(web):
    waiting_release(web)
    web.login("alice")
    for data in ({}, {"csrf_token": "wrong"}):
        response = web.client.post("/runs/release/1/approve", data=data)
        assert response.status_code == 403
    assert approvals_of(web, "release#1") == []


def test_an_approval_by_a_non_member_is_403_on_the_run_page(web):
    waiting_release(web)
    csrf = web.login("bob")
    response = web.client.post("/runs/release/1/approve", data={"csrf_token": csrf})
    assert response.status_code == 403
    assert "bob may not approve release#1" in response.text
    assert approvals_of(web, "release#1") == []


def test_an_approval_is_recorded_as_the_session_user_whatever_the_form_claims(web):
    waiting_release(web)
    csrf = web.login("alice")
    response = web.client.post("/runs/release/1/approve",
                               data={"csrf_token": csrf, "task": "approval",
                                     "comment": "fine", "user": "mallory",
                                     "username": "mallory"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/runs/release/1"
    web.wait("release#1", "succeeded")
    (decision,) = approvals_of(web, "release#1")
    assert (decision.user, decision.comment) == ("alice", "fine")
    page = web.client.get("/runs/release/1").text
    assert "status-succeeded" in page and ">Approve</button>" not in page


def test_reject_cancel_retry_and_skip_buttons(web):
    waiting_release(web)
    csrf = web.login("alice")
    web.client.post("/runs/release/1/reject", data={"csrf_token": csrf, "comment": "no"})
    web.wait("release#1", "failed")
    page = web.client.get("/runs/release/1").text
    assert ">Retry</button>" in page

    web.start("flaky")
    web.wait("flaky#1", "failed")
    page = web.client.get("/runs/flaky/1").text
    assert ">Skip</button>" in page and ">Retry task</button>" in page
    skip = web.client.post("/runs/flaky/1/skip", data={"csrf_token": csrf,
                                                       "task": "test/check"},
                           follow_redirects=False)
    assert skip.status_code == 303
    run = web.wait("flaky#1", "succeeded")
    check = [t for t in web.context.store.task_runs(run.id) if t.task == "check"][0]
    assert check.error == "skipped by alice"

    web.start("flaky")
    web.wait("flaky#2", "failed")
    (web.directory / "flag").write_text("")
    retry = web.client.post("/runs/flaky/2/retry", data={"csrf_token": csrf},
                            follow_redirects=False)
    assert retry.status_code == 303
    web.wait("flaky#2", "succeeded")

    waiting = web.start("release")
    web.wait(waiting, "waiting")
    cancel = web.client.post("/runs/release/2/cancel", data={"csrf_token": csrf},
                             follow_redirects=False)
    assert cancel.status_code == 303
    assert web.context.service.get("release#2").error == "canceled by alice"
    assert web.client.post("/runs/release/2/cancel", data={"csrf_token": csrf}).status_code == 409
    assert web.client.post("/runs/release/2/explode",
                           data={"csrf_token": csrf}).status_code == 404


def test_resume_button_continues_an_interrupted_run(web):
    context = web.context
    run = context.service.create("quick", context.store.get_pipeline("quick").definition,
                                 trigger="manual", user="bob")
    context.store.interrupt_run(run.id, "the process driving the run is gone")
    csrf = web.login("bob")
    assert ">Resume</button>" in web.client.get("/runs/quick/1").text
    response = web.client.post("/runs/quick/1/resume", data={"csrf_token": csrf},
                               follow_redirects=False)
    assert response.status_code == 303
    web.wait("quick#1", "succeeded")


def test_resume_button_continues_a_paused_deploy_as_the_session_user(web):
    web.start("rollout")
    web.wait("rollout#1", "waiting")
    csrf = web.login("bob")
    page = web.client.get("/runs/rollout/1").text
    assert "Deploy paused between batches: deploy/hosts/deploy" in page
    assert ">Resume</button>" in page and ">Approve</button>" not in page
    response = web.client.post("/runs/rollout/1/resume", data={"csrf_token": csrf},
                               follow_redirects=False)
    assert response.status_code == 303
    web.wait("rollout#1", "succeeded")
    (decision,) = approvals_of(web, "rollout#1")
    assert (decision.user, decision.decision) == ("bob", "resume")


# -- escaping --------------------------------------------------------------------------------------

HOSTILE = "<script>alert('x')</script>"


def hostile_run(web) -> str:
    """A finished run whose step name, log lines, error and summary hold markup."""
    definition = {"version": 2, "description": "", "source": None, "variables": {},
                  "parallelism": 1, "caches": {}, "stages": {"build": {"index": 0,
                  "trigger": "auto", "tasks": {"t<b>": {
                      "needs": [], "timeout": None, "retries": 0, "allow_failure": False,
                      "when": None, "steps": {HOSTILE: {
                          "index": 0, "type": "command", "shell": "bash -e", "env": {},
                          "timeout": None, "outputs": [],
                          "run": "echo \"<img src=x onerror=alert(1)>\"; printf '\\xff\\xfe"
                                 "<script>bad()</script>\\n'; exit 3"}}}}}}}
    context = web.context
    run = context.service.create("quick", definition, trigger="manual", user="alice")
    context.service.drive(run.ref)
    step = context.store.step_runs(run.id)[0]
    context.store.update_step(step.id, summary={"title": HOSTILE, "lines": [HOSTILE]})
    return run.ref


def test_run_data_is_escaped_in_the_run_page(web):
    ref = hostile_run(web)
    web.login("alice")
    page = web.client.get(f"/runs/{ref.replace('#', '/')}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "<script>bad()" not in page
    assert str(escape(HOSTILE)) in page      # the step name, the summary's title and line
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "t&lt;b&gt;" in page
    assert page.count("<script") == 1       # the page's own script tag only


def test_run_data_is_escaped_in_lists(web):
    hostile_run(web)
    web.login("alice")
    for path in ("/", "/pipelines/quick"):
        page = web.client.get(path).text
        assert page.count("<script") == 1, path


def test_reflected_values_are_escaped(web):
    web.login("alice")
    page = web.client.get("/pipelines/quick", params={"branch": '"><script>x()</script>'}).text
    assert page.count("<script") == 1
    assert "&#34;&gt;&lt;script&gt;" in page
    from fastapi.testclient import TestClient

    with TestClient(web.app) as anonymous:
        login = anonymous.post("/login", data={"username": '"><script>y()</script>',
                                               "password": "x",
                                               "login_token": login_token(anonymous)})
    assert login.status_code == 401
    assert login.text.count("<script") == 1


# -- artifacts and static files --------------------------------------------------------------------

def test_artifacts_download_from_the_run_page(web):
    ref = waiting_release(web)
    web.login("bob")
    page = web.client.get("/runs/release/1").text
    assert 'href="/runs/release/1/artifacts/package"' in page
    response = web.client.get("/runs/release/1/artifacts/package")
    assert response.status_code == 200
    (record,) = web.context.store.artifacts(web.context.service.get(ref).id)
    assert hashlib.sha256(response.content).hexdigest() == record.sha256
    assert web.client.get("/runs/release/1/artifacts/..%2Fpackage").status_code == 404


@pytest.mark.parametrize("name,status", [
    ("flowplan.css", 200), ("flowplan.js", 200), ("..%2Fdashboard.py", 404),
    ("nope.css", 404), ("__init__.py", 404),
])
def test_static_files_are_only_the_stylesheet_and_the_script(web, name, status):
    response = web.client.get(f"/static/{name}")
    assert response.status_code == status


# -- the event stream ------------------------------------------------------------------------------

def read_events(response, until: str = "end", timeout: float = 30.0):
    """(kind, data) of server-sent events from a streaming httpx response, up to `until`."""
    kind, deadline = None, time.monotonic() + timeout
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            raise AssertionError("the stream did not end")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])
            if kind == until:
                return


def test_the_event_stream_sends_lines_while_the_run_goes_on_and_ends_when_it_finishes(web):
    with serve(web.app) as base, httpx.Client(base_url=base, timeout=30) as client:
        web.login("alice", client)
        ref = web.start("slow")
        web.wait(ref, "running")
        seen = []
        with client.stream("GET", "/runs/slow/1/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for kind, data in read_events(response):
                seen.append((kind, data))
                if kind == "log" and data["text"] == "first":
                    status_then = web.context.service.get(ref).status
        assert status_then == "running"
        texts = [d["text"] for k, d in seen if k == "log"]
        assert texts[:2] == ["first", "second"]
        statuses = [d["run"] for k, d in seen if k == "status"]
        assert statuses[0] == "running" and statuses[-1] == "succeeded"
        assert seen[-1] == ("end", {"status": "succeeded"})
        cursor = [d["cursor"] for k, d in seen if k == "log"][0]
        with client.stream("GET", f"/runs/slow/1/events?after={cursor}") as response:
            rest = [d["text"] for k, d in read_events(response) if k == "log"]
        assert rest == texts[1:]


def test_the_event_stream_needs_a_session_and_a_known_run(web):
    assert web.client.get("/runs/slow/1/events").status_code == 401
    web.login("bob")
    assert web.client.get("/runs/slow/1/events").status_code == 404
    web.start("quick")
    web.wait("quick#1", "succeeded")
    assert web.client.get("/runs/quick/1/events", params={"after": "x"}).status_code == 422
    body = web.client.get("/runs/quick/1/events").text      # finished: all of it, then end
    assert "event: end" in body and '"text": "line 5"' in body


def test_the_event_stream_escapes_nothing_into_html_it_sends_json(web):
    hostile_run(web)
    web.login("alice")
    body = web.client.get("/runs/quick/1/events").text
    for line in body.splitlines():
        if line.startswith("data: "):
            json.loads(line[6:])
    assert '"text": "<img src=x onerror=alert(1)>"' in body


def test_the_event_stream_stops_when_the_client_goes_away(web):
    from flowplan.server import dashboard

    ref = waiting_release(web)
    run = web.context.service.get(ref)

    class GoneAfterOneLook:
        looks = 0

        async def is_disconnected(self) -> bool:
            self.looks += 1
            return self.looks > 1

    async def collect():
        return [event async for event in dashboard.run_events(GoneAfterOneLook(), web.context,
                                                              run, None)]

    events = asyncio.run(collect())
    assert events[-1].startswith("event: status")     # the waiting run's stream just stopped
    assert not any(e.startswith("event: end") for e in events)


def test_templates_and_static_files_are_package_data():
    """A non-editable install carries every template and static file (pyproject's
    package-data globs cover them all)."""
    import fnmatch
    import tomllib
    from pathlib import Path

    from flowplan.server import dashboard

    root = Path(dashboard.__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["flowplan"]
    package = root / "flowplan"
    files = [p.relative_to(package).as_posix() for folder in (dashboard.STATIC, dashboard.HERE /
                                                              "templates")
             for p in folder.iterdir() if p.is_file()]
    assert len(files) >= 8
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


HOSTILE_GETS = ["/pipelines/%3Cscript%3E", "/pipelines/%00", "/pipelines/" + "x" * 300,
                "/pipelines/release?status=%00&branch=%ff&trigger=" + "t" * 300,
                "/runs/release/0", "/runs/release/99999999999999999999999", "/runs/%00/1",
                "/runs/release/1/events?after=" + "9" * 100, "/runs/release/1/events?after=1.x",
                "/runs/release/1/artifacts/%00", "/login?next=%00%0d%0aSet-Cookie:x=y",
                "/static/%00", "/static/.."]
HOSTILE_POSTS = [("/runs/release/1/approve", {"comment": "a\x00b"}),
                 ("/runs/release/1/approve", {"task": "x" * 5000}),
                 ("/runs/release/1/skip", {}),
                 ("/pipelines/release/runs", {"var_greeting": "\x00", "branch": "\n"}),
                 ("/pipelines/release/runs", {f"var_v{i}": "x" for i in range(150)}),
                 ("/login", {"username": "\x00", "password": "\x00", "next": "\x00"})]


def test_hostile_dashboard_requests_never_get_a_server_error(web):
    from fastapi.testclient import TestClient

    waiting_release(web)
    with TestClient(web.app, raise_server_exceptions=False) as client:
        csrf = web.login("alice", client)
        for path in HOSTILE_GETS:
            response = client.get(path, follow_redirects=False)
            assert response.status_code < 500, (path, response.text[:200])
        for path, data in HOSTILE_POSTS:
            response = client.post(path, data={"csrf_token": csrf, **data},
                                   follow_redirects=False)
            assert response.status_code < 500, (path, response.text[:200])
        for raw in (b"task=%ED%A0%80&comment=%FF%FE", b"task=%00&comment=%C0%AF",
                    b"\xff\xfe=1&task=%FF"):
            response = client.post("/runs/release/1/approve",
                                   content=b"csrf_token=" + csrf.encode() + b"&" + raw,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code < 500, (raw, response.text[:200])
    assert approvals_of(web, "release#1") == []
    assert [r.ref for r in web.context.service.list_runs("release")] == ["release#1"]
