"""The REST API (/api/v1) in-process: who may call it (bearer tokens, sessions with CSRF), what
each route answers, approvals recorded as the authenticated user only, log paging, artifact
downloads, and JSON errors for bad input. Real runs of a real applied config (web_workspace)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from web_app import wait_until
from web_workspace import web  # noqa: F401  (the fixture)

ROUTES = [
    ("GET", "/api/v1/pipelines"),
    ("GET", "/api/v1/pipelines/release/runs"),
    ("POST", "/api/v1/pipelines/release/runs"),
    ("GET", "/api/v1/runs/release/1"),
    ("POST", "/api/v1/runs/release/1/approve"),
    ("POST", "/api/v1/runs/release/1/reject"),
    ("POST", "/api/v1/runs/release/1/cancel"),
    ("POST", "/api/v1/runs/release/1/retry"),
    ("POST", "/api/v1/runs/release/1/resume"),
    ("POST", "/api/v1/runs/release/1/skip"),
    ("GET", "/api/v1/runs/release/1/logs"),
    ("GET", "/api/v1/runs/release/1/artifacts/package"),
]


def approvals_of(web, ref: str) -> list:
    return web.context.store.approvals(web.context.service.get(ref).id)


# -- who may call ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_answers_401_with_a_bearer_challenge_without_credentials(web, method, path):
    web.start("release")
    response = web.client.request(method, path, json={"task": "compile"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]


@pytest.mark.parametrize("header", [
    "Bearer fpt_nope_nope", "Bearer ", "Basic YWxpY2U6eA==", "Bearer fpt_", "bearer",
    "Bearer fpt_abc_def_ghi", "Bearer " + "x" * 5000,
])
def test_malformed_or_unknown_tokens_are_refused(web, header):
    response = web.client.get("/api/v1/pipelines", headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_a_token_with_the_right_id_but_another_secret_is_refused(web):
    token_id = web.tokens["alice"].split("_")[1]
    response = web.client.get("/api/v1/pipelines",
                              headers={"Authorization": f"Bearer fpt_{token_id}_forged"})
    assert response.status_code == 401


def test_a_session_cookie_reads_without_csrf_but_writes_only_with_it(web):
    csrf = web.login("alice")
    assert web.client.get("/api/v1/pipelines").status_code == 200
    refused = web.client.post("/api/v1/pipelines/quick/runs", json={})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]
    wrong = web.client.post("/api/v1/pipelines/quick/runs", json={},
                            headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    assert web.context.service.list_runs("quick") == []
    started = web.client.post("/api/v1/pipelines/quick/runs", json={},
                              headers={"X-CSRF-Token": csrf})
    assert started.status_code == 202
    assert started.json()["user"] == "alice"
    web.wait("quick#1", "succeeded")


def test_a_forged_session_cookie_is_401(web):
    web.client.cookies.set("flowplan_session", "forged-session-id")
    assert web.client.get("/api/v1/pipelines").status_code == 401


def test_an_expired_session_is_401(tmp_path):
    import time
    from datetime import timedelta

    from web_app import close_web_app
    from web_workspace import make_web

    short = make_web(tmp_path / "config", session_ttl=timedelta(seconds=0.5))
    try:
        short.login("alice")
        assert short.client.get("/api/v1/pipelines").status_code == 200
        time.sleep(0.7)
        assert short.client.get("/api/v1/pipelines").status_code == 401
    finally:
        short.client.close()
        close_web_app(short.context)


def test_the_token_of_a_removed_user_is_refused(web):
    web.context.store.delete_user("bob")
    assert web.client.get("/api/v1/pipelines", headers=web.bearer("bob")).status_code == 401


# -- pipelines and starting runs -------------------------------------------------------------------

def test_pipelines_are_listed_with_their_last_run(web):
    web.start("quick")
    web.wait("quick#1", "succeeded")
    body = web.client.get("/api/v1/pipelines", headers=web.bearer("bob")).json()
    by_name = {p["name"]: p for p in body["pipelines"]}
    assert sorted(by_name) == ["flaky", "quick", "release", "rollout", "slow"]
    assert by_name["quick"]["last_run"]["ref"] == "quick#1"
    assert by_name["quick"]["last_run"]["status"] == "succeeded"
    assert by_name["release"]["last_run"] is None
    assert by_name["release"]["description"] == "Build, approve, deploy"


def test_a_run_starts_with_variables_as_the_token_user_and_trigger_api(web):
    response = web.client.post("/api/v1/pipelines/release/runs", headers=web.bearer("bob"),
                               json={"variables": {"greeting": "bonjour"}})
    assert response.status_code == 202
    assert response.json()["ref"] == "release#1"
    assert response.json()["status"] == "queued"
    run = web.wait("release#1", "waiting")
    assert (run.user, run.trigger) == ("bob", "api")
    lines = web.client.get("/api/v1/runs/release/1/logs", headers=web.bearer("bob")).json()
    assert "bonjour from build" in [line["text"] for line in lines["lines"]]


def test_starting_an_unknown_pipeline_is_404_and_a_refused_start_is_409(web):
    missing = web.client.post("/api/v1/pipelines/nope/runs", headers=web.bearer("alice"))
    assert missing.status_code == 404
    assert "no pipeline named 'nope'" in missing.json()["error"]
    refused = web.client.post("/api/v1/pipelines/release/runs", headers=web.bearer("alice"),
                              json={"variables": {"colour": "red"}})
    assert refused.status_code == 409
    assert 'has no pipeline variable "colour"' in refused.json()["error"]
    assert web.context.service.list_runs() == []


@pytest.mark.parametrize("body", [
    {"variables": {"greeting": "x"}, "user": "mallory"},
    {"variables": {"bad name": "x"}},
    {"variables": {"greeting": "a\x00b"}},
    {"variables": {"greeting": 3}},
    {"branch": "main\nmain"},
    {"branch": ""},
    {"commit": "not-a-sha; rm -rf /"},
    {"variables": {f"v{i}": "x" for i in range(101)}},
    [1, 2],
    "text",
])
def test_bad_run_requests_are_422_with_a_json_error(web, body):
    response = web.client.post("/api/v1/pipelines/release/runs", headers=web.bearer("alice"),
                               json=body)
    assert response.status_code == 422
    assert set(response.json()) == {"error"}
    assert web.context.service.list_runs() == []


@pytest.mark.parametrize("raw,status", [
    (b"\xff{not json", 400),
    (b'{"variables": {"greeting": "\\ud800"}}', 422),         # a lone surrogate
    (b'{"variables": {"greeting": "x"}', 422),
    (b'{"branch": "\\u0000"}', 422),
])
def test_a_body_that_is_not_json_or_not_text_is_refused_with_a_json_error(web, raw, status):
    response = web.client.post("/api/v1/pipelines/release/runs", content=raw,
                               headers={**web.bearer("alice"),
                                        "Content-Type": "application/json"})
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert web.context.service.list_runs() == []


def test_runs_are_filtered_by_status_branch_and_trigger(web):
    context = web.context
    definition = context.store.get_pipeline("quick").definition
    context.service.create("quick", definition, trigger="webhook", branch="main", user="hook")
    context.service.create("quick", definition, trigger="schedule", branch="dev", user=None)
    web.start("quick")
    web.wait("quick#3", "succeeded")
    get = lambda **q: [r["ref"] for r in web.client.get(  # noqa: E731
        "/api/v1/pipelines/quick/runs", params=q, headers=web.bearer("bob")).json()["runs"]]
    assert get() == ["quick#3", "quick#2", "quick#1"]
    assert get(status="queued") == ["quick#2", "quick#1"]
    assert get(branch="dev") == ["quick#2"]
    assert get(trigger="api") == ["quick#3"]
    assert get(trigger="webhook", status="queued", branch="main") == ["quick#1"]
    assert get(limit=1) == ["quick#3"]
    bad = web.client.get("/api/v1/pipelines/quick/runs", params={"status": "great"},
                         headers=web.bearer("bob"))
    assert bad.status_code == 422
    assert web.client.get("/api/v1/pipelines/nope/runs",
                          headers=web.bearer("bob")).status_code == 404
    assert web.client.get("/api/v1/pipelines/quick/runs", params={"limit": 0},
                          headers=web.bearer("bob")).status_code == 422


# -- the run tree ----------------------------------------------------------------------------------

def test_the_run_shows_stages_tasks_steps_gates_and_who_may_decide(web):
    web.start("release")
    web.wait("release#1", "waiting")
    as_bob = web.client.get("/api/v1/runs/release/1", headers=web.bearer("bob")).json()
    assert as_bob["run"]["status"] == "waiting"
    assert [s["name"] for s in as_bob["stages"]] == ["build", "gate", "deploy"]
    build = as_bob["stages"][0]["tasks"][0]
    assert [(s["name"], s["type"], s["status"]) for s in build["steps"]] == [
        ("hello", "command", "succeeded"), ("package", "archive", "succeeded")]
    assert build["steps"][0]["duration_seconds"] >= 0
    (gate,) = as_bob["gates"]
    assert (gate["task"], gate["step"], gate["kind"]) == ("approval", "ok", "approval")
    assert gate["who"] == "a member of role ops (alice)"
    assert gate["you_may_decide"] is False
    as_alice = web.client.get("/api/v1/runs/release/1", headers=web.bearer("alice")).json()
    assert as_alice["gates"][0]["you_may_decide"] is True
    (artifact,) = as_alice["artifacts"]
    assert artifact["name"] == "package"
    assert artifact["url"] == "/api/v1/runs/release/1/artifacts/package"


@pytest.mark.parametrize("path,status", [
    ("/api/v1/runs/release/1", 404),
    ("/api/v1/runs/nope/1", 404),
    ("/api/v1/runs/release/0", 422),
    ("/api/v1/runs/release/-3", 422),
    ("/api/v1/runs/release/99999999999999999999999", 422),
    ("/api/v1/runs/release/x", 422),
    ("/api/v1/runs/re%00lease/1", 404),
    ("/api/v1/runs/release/1/logs", 404),
    ("/api/v1/runs/release/1/artifacts/package", 404),
])
def test_unknown_runs_are_404_and_bad_numbers_422(web, path, status):
    response = web.client.get(path, headers=web.bearer("alice"))
    assert response.status_code == status
    assert set(response.json()) == {"error"}


# -- decisions -------------------------------------------------------------------------------------

def test_an_approval_by_someone_not_in_the_role_is_403_and_records_nothing(web):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("bob"),
                               json={"comment": "let me"})
    assert response.status_code == 403
    assert response.json()["error"] == (
        "bob may not approve release#1. Who may: approval step gate/approval/ok: a member of "
        "role ops (alice)")
    assert approvals_of(web, "release#1") == []
    assert web.context.service.get("release#1").status == "waiting"
    assert web.client.post("/api/v1/runs/release/1/reject",
                           headers=web.bearer("bob")).status_code == 403
    assert approvals_of(web, "release#1") == []


def test_an_approval_by_a_role_member_continues_the_run_recorded_as_the_token_user(web):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"),
                               json={"comment": "ship it", "task": "approval"})
    assert response.status_code == 202
    assert response.json() == {"ref": "release#1", "action": "approve",
                               "message": "approved by alice; the run continues"}
    web.wait("release#1", "succeeded")
    (decision,) = approvals_of(web, "release#1")
    assert (decision.user, decision.decision, decision.comment) == ("alice", "approve",
                                                                    "ship it")
    deploy = web.client.get("/api/v1/runs/release/1/logs", headers=web.bearer("alice"),
                            params={"step": "go"}).json()
    assert [line["text"] for line in deploy["lines"]] == ["deployed with ***"]
    shown = web.client.get("/api/v1/runs/release/1", headers=web.bearer("alice")).text
    assert "s3cret-deploy-token" not in shown
    again = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"))
    assert again.status_code == 409


def test_the_answer_comes_once_the_decision_is_recorded_and_a_second_one_is_409(web):
    definition = web.context.store.get_pipeline("release").definition
    stages = definition["stages"]
    stages["gate"]["tasks"]["approval"]["steps"]["ok"]["method"] = "all"
    stages["gate"]["tasks"]["approval"]["steps"]["ok"]["approvers"] = ["alice", "bob"]
    run = web.context.service.create("release", definition, trigger="manual", user="alice")
    web.context.launcher.continue_in_background(run.ref, lambda: web.context.service.drive(
        run.ref))
    web.wait("release#1", "waiting")
    first = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"))
    assert first.status_code == 202
    assert [a.user for a in approvals_of(web, "release#1")] == ["alice"]     # already there
    second = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"))
    assert second.status_code == 409
    assert second.json()["error"] == "alice already decided (approve) on what release#1 waits for"
    assert web.client.post("/api/v1/runs/release/1/approve",
                           headers=web.bearer("bob")).status_code == 202
    web.wait("release#1", "succeeded")


def test_a_decision_while_the_server_stops_is_503_and_records_nothing(web):
    web.start("release")
    web.wait("release#1", "waiting")
    wait_until(lambda: web.context.launcher.running() == [], "the drive to end")
    web.context.launcher.shutdown()
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"))
    assert response.status_code == 503, response.text
    assert "stopping" in response.json()["error"]
    assert approvals_of(web, "release#1") == []


def test_a_claimed_user_name_in_the_body_is_refused_not_recorded(web):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("bob"),
                               json={"user": "alice"})
    assert response.status_code == 422
    assert approvals_of(web, "release#1") == []


def test_a_rejection_fails_the_run(web):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/reject", headers=web.bearer("alice"),
                               json={"comment": "not today"})
    assert response.status_code == 202
    run = web.wait("release#1", "failed")
    (step,) = [s for s in web.context.store.step_runs(run.id) if s.step == "ok"]
    assert step.status == "failed"
    assert step.error.startswith("rejected by") and step.error.endswith("alice: not today")
    assert [a.decision for a in approvals_of(web, "release#1")] == ["reject"]


def test_approving_a_run_that_waits_for_nothing_is_409(web):
    web.start("quick")
    web.wait("quick#1", "succeeded")
    response = web.client.post("/api/v1/runs/quick/1/approve", headers=web.bearer("alice"))
    assert response.status_code == 409
    assert "succeeded" in response.json()["error"]
    wrong_task = web.start("release")
    web.wait(wrong_task, "waiting")
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"),
                               json={"task": "other"})
    assert response.status_code == 409
    assert "not waiting for a decision at task other" in response.json()["error"]


@pytest.mark.parametrize("body", [
    {"comment": "x" * 2001}, {"comment": "a\x1bb"}, {"task": ""}, {"task": "a\nb"},
    {"extra": 1},
])
def test_bad_decision_bodies_are_422(web, body):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/approve", headers=web.bearer("alice"),
                               json=body)
    assert response.status_code == 422
    assert approvals_of(web, "release#1") == []


# -- cancel, retry, skip, resume -------------------------------------------------------------------

def test_cancel_stops_a_waiting_run_and_says_who(web):
    web.start("release")
    web.wait("release#1", "waiting")
    response = web.client.post("/api/v1/runs/release/1/cancel", headers=web.bearer("bob"))
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["error"] == "canceled by bob"
    again = web.client.post("/api/v1/runs/release/1/cancel", headers=web.bearer("bob"))
    assert again.status_code == 409


def test_retry_runs_the_failed_task_again(web):
    web.start("flaky")
    web.wait("flaky#1", "failed")
    (web.directory / "flag").write_text("")
    response = web.client.post("/api/v1/runs/flaky/1/retry", headers=web.bearer("bob"),
                               json={"task": "test/check"})
    assert response.status_code == 202
    web.wait("flaky#1", "succeeded")
    again = web.client.post("/api/v1/runs/flaky/1/retry", headers=web.bearer("bob"))
    assert again.status_code == 409
    assert "succeeded" in again.json()["error"]


def test_retry_of_an_unknown_task_is_404(web):
    web.start("flaky")
    web.wait("flaky#1", "failed")
    response = web.client.post("/api/v1/runs/flaky/1/retry", headers=web.bearer("bob"),
                               json={"task": "nope"})
    assert response.status_code == 404
    assert "has no task 'nope'" in response.json()["error"]


def test_skip_marks_the_task_skipped_by_the_user_and_the_run_goes_on(web):
    web.start("flaky")
    web.wait("flaky#1", "failed")
    assert web.client.post("/api/v1/runs/flaky/1/skip", headers=web.bearer("bob"),
                           json={}).status_code == 422
    response = web.client.post("/api/v1/runs/flaky/1/skip", headers=web.bearer("bob"),
                               json={"task": "check"})
    assert response.status_code == 202
    run = web.wait("flaky#1", "succeeded")
    tasks = {t.task: t for t in web.context.store.task_runs(run.id)}
    assert (tasks["check"].status, tasks["check"].error) == ("skipped", "skipped by bob")
    assert tasks["report"].status == "succeeded"


def test_skipping_a_task_that_waits_for_approval_needs_someone_who_may_approve(web):
    web.start("release")
    web.wait("release#1", "waiting")
    refused = web.client.post("/api/v1/runs/release/1/skip", headers=web.bearer("bob"),
                              json={"task": "gate/approval"})
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "bob may not skip task gate/approval of release#1: skipping it passes its approval "
        "step ok, which a member of role ops (alice) may decide")
    assert web.context.service.get("release#1").status == "waiting"
    later = web.client.post("/api/v1/runs/release/1/skip", headers=web.bearer("bob"),
                            json={"task": "deploy/ship"})
    assert later.status_code == 202          # a task without an approval step: anyone
    run_id = web.context.service.get("release#1").id
    wait_until(lambda: web.context.launcher.running() == [] and [
        t.status for t in web.context.store.task_runs(run_id) if t.task == "ship"] == [
        "skipped"], "the skip of deploy/ship")
    assert web.context.service.get("release#1").status == "waiting"
    allowed = web.client.post("/api/v1/runs/release/1/skip", headers=web.bearer("alice"),
                              json={"task": "approval"})
    assert allowed.status_code == 202, allowed.text
    run = web.wait("release#1", "succeeded")
    tasks = {t.task: t for t in web.context.store.task_runs(run.id)}
    assert (tasks["approval"].status, tasks["approval"].error) == ("skipped", "skipped by alice")
    assert tasks["ship"].error == "skipped by bob"


def test_resume_continues_an_interrupted_run_and_refuses_others(web):
    context = web.context
    run = context.service.create("quick", context.store.get_pipeline("quick").definition,
                                 trigger="manual", user="alice")
    context.store.interrupt_run(run.id, "the process driving the run is gone")
    assert context.service.get("quick#1").status == "interrupted"
    response = web.client.post("/api/v1/runs/quick/1/resume", headers=web.bearer("bob"))
    assert response.status_code == 202
    web.wait("quick#1", "succeeded")
    again = web.client.post("/api/v1/runs/quick/1/resume", headers=web.bearer("bob"))
    assert again.status_code == 409
    assert "only an interrupted run or a paused deploy" in again.json()["error"]


def test_resume_continues_a_deploy_paused_between_batches_as_the_token_user(web):
    web.start("rollout")
    web.wait("rollout#1", "waiting")
    shown = web.client.get("/api/v1/runs/rollout/1", headers=web.bearer("bob")).json()
    assert [(g["kind"], g["you_may_decide"]) for g in shown["gates"]] == [("pause", True)]
    approve = web.client.post("/api/v1/runs/rollout/1/approve", headers=web.bearer("alice"))
    assert approve.status_code == 409
    assert "paused" in approve.json()["error"]
    response = web.client.post("/api/v1/runs/rollout/1/resume", headers=web.bearer("bob"))
    assert response.status_code == 202
    web.wait("rollout#1", "succeeded")
    (decision,) = approvals_of(web, "rollout#1")
    assert (decision.user, decision.decision) == ("bob", "resume")


# -- logs and artifacts ----------------------------------------------------------------------------

def test_logs_come_in_pages_that_join_up_to_the_whole_log(web):
    web.start("quick")
    web.wait("quick#1", "succeeded")
    whole = web.client.get("/api/v1/runs/quick/1/logs", headers=web.bearer("bob")).json()
    texts = [line["text"] for line in whole["lines"]]
    assert texts[:5] == [f"line {i}" for i in range(1, 6)]
    assert whole["more"] is False and whole["run_status"] == "succeeded"
    paged, after = [], None
    for _ in range(50):
        page = web.client.get("/api/v1/runs/quick/1/logs", headers=web.bearer("bob"),
                              params={"limit": 2, **({"after": after} if after else {})}).json()
        paged += [line["text"] for line in page["lines"]]
        after = page["next"]
        if not page["more"]:
            break
    assert paged == texts
    last = web.client.get("/api/v1/runs/quick/1/logs", headers=web.bearer("bob"),
                          params={"after": whole["next"]}).json()
    assert last["lines"] == [] and last["next"] == whole["next"]


def test_logs_of_one_step_and_bad_filters(web):
    web.start("release")
    web.wait("release#1", "waiting")
    page = web.client.get("/api/v1/runs/release/1/logs", headers=web.bearer("bob"),
                          params={"task": "compile", "step": "hello"}).json()
    assert [line["text"] for line in page["lines"]] == ["hello from build"]
    missing = web.client.get("/api/v1/runs/release/1/logs", headers=web.bearer("bob"),
                             params={"step": "nope"})
    assert missing.status_code == 404
    for cursor in ("abc", "1", "1.2.3", "-1.0", "1." + "9" * 30):
        bad = web.client.get("/api/v1/runs/release/1/logs", headers=web.bearer("bob"),
                             params={"after": cursor})
        assert bad.status_code == 422, cursor


def test_an_artifact_downloads_from_the_path_the_store_recorded(web):
    web.start("release")
    run = web.wait("release#1", "waiting")
    (record,) = web.context.store.artifacts(run.id)
    response = web.client.get("/api/v1/runs/release/1/artifacts/package",
                              headers=web.bearer("bob"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "attachment" in response.headers["content-disposition"]
    assert hashlib.sha256(response.content).hexdigest() == record.sha256
    for name in ("nope", "..%2F..%2Fstate.json", "%2Fetc%2Fpasswd", "package.tgz"):
        refused = web.client.get(f"/api/v1/runs/release/1/artifacts/{name}",
                                 headers=web.bearer("bob"))
        assert refused.status_code == 404, name
    Path(record.path).unlink()
    gone = web.client.get("/api/v1/runs/release/1/artifacts/package", headers=web.bearer("bob"))
    assert gone.status_code == 404
    assert "no longer kept" in gone.json()["error"]


def test_the_openapi_document_describes_the_routes_and_their_models(web):
    document = web.client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/api/v1/pipelines", "/api/v1/pipelines/{pipeline}/runs",
            "/api/v1/runs/{pipeline}/{number}", "/api/v1/runs/{pipeline}/{number}/approve",
            "/api/v1/runs/{pipeline}/{number}/logs"} <= set(paths)
    assert not [p for p in paths if not p.startswith("/api/v1/")]     # no dashboard pages
    schemas = document["components"]["schemas"]
    assert {"RunDetail", "RunSummary", "LogPage", "ErrorBody", "GateView"} <= set(schemas)
    approve = paths["/api/v1/runs/{pipeline}/{number}/approve"]["post"]
    assert {"202", "401", "403", "404", "409", "422"} <= set(approve["responses"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
