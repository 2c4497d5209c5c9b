"""POST /hooks/NAME in-process: GitHub's signature test vector and real push payload shapes,
each bad input of the issue (401 with nothing started, 404, 413 by header and by stream, 400,
202 ignored with the reason recorded), redeliveries (one run, even for 50 identical deliveries
at once), the secret rule (503 until applied), webhooks read again after an apply, concurrency
limits, and the git hook's sender with forged refs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from flowplan.server.app import create_app
from flowplan.server.context import ServerContext
from flowplan.server.deliveries import github_signature

from conftest import apply_config, pipeline, wait_for

SECRET = "It's a Secret to Everybody"
ZEROS = "0" * 40
HOOKS = f"""\
variable "hook_secret" {{
  type      = string
  sensitive = true
  default   = "{SECRET}"
}}

webhook "push" {{
  pipeline = pipeline.ci
  branches = ["main", "release/*"]
  secret   = var.hook_secret
}}
"""


def push_payload(ref: str = "refs/heads/main", after: str = "c" * 40,
                 pusher: str = "octocat", files: tuple[str, ...] = ("README.md",)) -> dict:
    """A push event as GitHub sends it (the fields flowplan reads, and some it does not)."""
    return {
        "ref": ref, "before": "b" * 40, "after": after, "created": False, "deleted": False,
        "forced": False, "base_ref": None,
        "compare": "https://github.com/octo-org/app/compare/bbbbbbbbbbbb...cccccccccccc",
        "commits": [{"id": after, "tree_id": "d" * 40, "distinct": True,
                     "message": "Update README", "timestamp": "2024-05-01T10:00:00+02:00",
                     "url": f"https://github.com/octo-org/app/commit/{after}",
                     "author": {"name": "Mona", "email": "mona@example.com",
                                "username": "octocat"},
                     "committer": {"name": "GitHub", "email": "noreply@github.com",
                                   "username": "web-flow"},
                     "added": [], "removed": [], "modified": list(files)}],
        "head_commit": None,
        "repository": {"id": 1296269, "name": "app", "full_name": "octo-org/app",
                       "private": True, "default_branch": "main"},
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "sender": {"login": pusher, "id": 1, "type": "User"},
    }


def signed(payload: dict | bytes, *, event: str = "push", delivery: str | None = None,
           secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-GitHub-Event": event,
                  "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                  "X-Hub-Signature-256": github_signature(secret, body),
                  "User-Agent": "GitHub-Hookshot/044aadd"}


@pytest.fixture
def serve(workspace):
    """serve(HCL) -> (context, client) for the applied config; stopped at the end."""
    opened = []

    def start(hcl: str, environ: dict | None = None):
        directory = workspace(hcl, environ)
        context = ServerContext.load(directory, environ or {})
        client = TestClient(create_app(context))
        client.__enter__()
        opened.append((context, client))
        return context, client

    yield start
    for context, client in opened:
        client.__exit__(None, None, None)
        context.store.close()


def runs(context) -> list[str]:
    return [r.ref for r in context.service.list_runs()]


def deliveries(context) -> list[tuple[str, int, str]]:
    return [(d.outcome, d.status, d.reason) for d in context.store.list_deliveries()]


def test_healthz(serve):
    _context, client = serve(pipeline("ci"))
    assert client.get("/healthz").json() == {"status": "ok"}


def test_githubs_documented_test_vector_is_accepted_as_a_signature(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body = b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    answer = client.post("/hooks/push", content=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "vector",
        "X-Hub-Signature-256": signature})
    # past the signature: the body is not JSON, which is the next check
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]
    assert runs(context) == []


def test_signed_push_starts_a_run_as_the_pusher_and_is_recorded(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload(after="a" * 40), delivery="d-1")
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (202, {"status": "accepted", "run": "ci#1"})
    run = context.service.get("ci#1")
    assert (run.trigger, run.user, run.branch, run.commit) == (
        "webhook", "github:octocat", "main", "a" * 40)
    [delivery] = context.store.list_deliveries("push")
    assert (delivery.sender, delivery.event, delivery.delivery_id, delivery.outcome,
            delivery.run) == ("github", "push", "d-1", "accepted", "ci#1")
    wait_for(lambda: context.service.get("ci#1").status == "succeeded")


@pytest.mark.parametrize("headers, reason", [
    ({"X-GitHub-Event": "push"}, "no X-Hub-Signature-256 header"),
    ({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
     "does not match the body"),
    ({}, "no signature or token header"),
])
def test_missing_or_wrong_signature_is_401_and_starts_nothing(serve, headers, reason):
    context, client = serve(pipeline("ci") + HOOKS)
    answer = client.post("/hooks/push", content=json.dumps(push_payload()), headers=headers)
    assert answer.status_code == 401 and reason in answer.json()["error"]
    assert runs(context) == []
    assert [(d.outcome, d.status) for d in context.store.list_deliveries()] == [("rejected", 401)]


def test_signature_made_with_another_secret_is_401(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload(), secret="guessed")
    assert client.post("/hooks/push", content=body, headers=headers).status_code == 401
    assert runs(context) == []


def test_unknown_webhook_is_404_and_not_recorded(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload())
    for name in ("nope", "no.such-hook", "a" * 300):
        answer = client.post(f"/hooks/{name}", content=body, headers=headers)
        assert answer.status_code == 404 and "error" in answer.json()
    assert context.store.list_deliveries() == [] and runs(context) == []


def test_body_over_the_limit_is_413_by_its_length_or_by_what_is_streamed(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    context.max_body_bytes = 1024
    body, headers = signed(b"x" * 5000)
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.status_code == 413 and "5000 bytes" in answer.json()["error"]
    sent = []

    def chunks():                      # no Content-Length: read until past the limit
        for _ in range(1000):
            sent.append(1)
            yield b"y" * 512

    headers.pop("Content-Length", None)
    answer = client.post("/hooks/push", content=chunks(), headers=headers)
    assert answer.status_code == 413 and runs(context) == []
    assert [(d.outcome, d.status) for d in context.store.list_deliveries()] == [
        ("too_large", 413), ("too_large", 413)]


def test_malformed_json_is_400(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100000):
        body, headers = signed(body)
        assert client.post("/hooks/push", content=body, headers=headers).status_code == 400
    body, headers = signed({"ref": 7, "after": "zz"})
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.status_code == 400 and "ref" in answer.json()["error"]
    assert runs(context) == []


def test_ignored_branch_is_202_with_the_reason_recorded(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload(ref="refs/heads/feature/x"))
    answer = client.post("/hooks/push", content=body, headers=headers)
    reason = "branch 'feature/x' matches none of main, release/*"
    assert (answer.status_code, answer.json()) == (202, {"status": "ignored", "reason": reason})
    assert deliveries(context) == [("ignored", 202, reason)] and runs(context) == []


def test_ping_is_answered_and_starts_nothing(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed({"zen": "Design for failure.", "hook_id": 1}, event="ping")
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"status": "ping"})
    assert runs(context) == [] and deliveries(context) == [("ping", 200, "ping")]


def test_redelivery_starts_nothing_and_names_the_first_run(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload(), delivery="same")
    first = client.post("/hooks/push", content=body, headers=headers).json()
    again = client.post("/hooks/push", content=body, headers=headers)
    assert (again.status_code, again.json()) == (202, {"status": "duplicate", "run": first["run"]})
    assert runs(context) == ["ci#1"]
    assert [d.outcome for d in context.store.list_deliveries()] == ["duplicate", "accepted"]


def test_fifty_identical_deliveries_at_once_start_one_run(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload(), delivery="storm")

    async def storm():
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(http.post("/hooks/push", content=body,
                                                    headers=headers) for _ in range(50)))

    answers = asyncio.run(storm())
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 49
    assert runs(context) == ["ci#1"]
    assert {a.json().get("run") for a in answers} <= {"ci#1", None}
    outcomes = [d.outcome for d in context.store.list_deliveries(limit=100)]
    assert outcomes.count("accepted") == 1 and outcomes.count("duplicate") == 49


def test_secret_changed_in_the_config_but_not_applied_is_503_saying_to_apply(serve, caplog):
    context, client = serve(pipeline("ci") + HOOKS)
    main = context.directory / "main.hcl"
    main.write_text(main.read_text().replace(SECRET, "a new secret nobody applied"))
    body, headers = signed(push_payload(), secret="a new secret nobody applied")
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.status_code == 503
    assert "not the one applied: run `flowplan apply`" in answer.json()["error"]
    assert runs(context) == []
    assert "a new secret" not in answer.text and "a new secret" not in caplog.text
    assert SECRET not in repr(context.hooks.all())


def test_webhook_applied_while_the_server_runs_takes_deliveries(serve):
    context, client = serve(pipeline("ci"))
    body, headers = signed(push_payload())
    assert client.post("/hooks/push", content=body, headers=headers).status_code == 404
    apply_config(context.directory, pipeline("ci") + HOOKS)
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.json() == {"status": "accepted", "run": "ci#1"}


def test_refused_launch_is_503_and_a_redelivery_may_try_again(serve, tmp_path):
    gate = f"while [ ! -f {tmp_path}/go ]; do sleep 0.02; done"
    limited = pipeline("ci", gate, extra='  max_concurrent_runs = 1\n  on_limit = "reject_new"')
    context, client = serve(limited + HOOKS)
    first = client.post("/hooks/push", content=signed(push_payload())[0],
                        headers=signed(push_payload())[1])
    body, headers = signed(push_payload(), delivery="second")
    second = client.post("/hooks/push", content=body, headers=headers)
    assert first.status_code == 202
    assert second.status_code == 503 and "reject_new" in second.json()["error"]
    assert context.store.list_deliveries()[0].outcome == "refused"
    (tmp_path / "go").touch()
    wait_for(lambda: context.launcher.running() == [] and
             context.service.get("ci#1").status == "succeeded")
    again = client.post("/hooks/push", content=body, headers=headers)
    assert again.json() == {"status": "accepted", "run": "ci#2"}


def test_queued_delivery_is_accepted_and_runs_after_the_one_before(serve, tmp_path):
    gate = f"while [ ! -f {tmp_path}/go-$FLOWPLAN_RUN_NUMBER ]; do sleep 0.02; done"
    context, client = serve(pipeline("ci", gate, extra="  max_concurrent_runs = 1") + HOOKS)
    answers = [client.post("/hooks/push", content=b, headers=h).json()
               for b, h in (signed(push_payload()), signed(push_payload()))]
    assert answers == [{"status": "accepted", "run": "ci#1"},
                       {"status": "accepted", "run": "ci#2"}]
    wait_for(lambda: context.service.get("ci#1").status == "running")
    assert context.service.get("ci#2").status == "queued"
    (tmp_path / "go-1").touch()
    (tmp_path / "go-2").touch()
    wait_for(lambda: context.service.get("ci#2").status == "succeeded")


def test_cancel_oldest_through_deliveries(serve, tmp_path):
    gate = f"while [ ! -f {tmp_path}/go-$FLOWPLAN_RUN_NUMBER ]; do sleep 0.02; done"
    context, client = serve(pipeline("ci", gate, extra='  max_concurrent_runs = 1\n'
                                                       '  on_limit = "cancel_oldest"') + HOOKS)
    client.post("/hooks/push", content=signed(push_payload())[0],
                headers=signed(push_payload())[1])
    wait_for(lambda: context.service.get("ci#1").status == "running")
    body, headers = signed(push_payload())
    assert client.post("/hooks/push", content=body, headers=headers).json()["run"] == "ci#2"
    wait_for(lambda: context.service.get("ci#1").status == "canceled")
    (tmp_path / "go-2").touch()
    wait_for(lambda: context.service.get("ci#2").status == "succeeded")


# -- the git hook's sender -----------------------------------------------------------------

def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path) -> tuple[Path, Path, list[str]]:
    """(bare repository, work tree, commits): main has a commit touching src/, then docs/."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "Ada Lovelace")
    git(work, "config", "user.email", "ada@example.com")
    commits = []
    for path in ("src/app.py", "docs/index.md"):
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text("hello\n")
        git(work, "add", ".")
        git(work, "commit", "-q", "-m", f"add {path}")
        commits.append(git(work, "rev-parse", "HEAD"))
    bare = tmp_path / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare, work, commits


def git_hook(bare: Path, paths: str = "") -> str:
    return f"""\
webhook "local" {{
  provider   = "git"
  pipeline   = pipeline.ci
  repository = "{bare}"
  branches   = ["main"]
  {paths}
}}
"""


def git_push(client, repository: Path | str, *refs: tuple[str, str, str]):
    body = {"repository": str(repository),
            "refs": [{"ref": r, "before": b, "after": a} for r, b, a in refs]}
    return client.post("/hooks/local", json=body, headers={"X-Flowplan-Git": "push"})


def test_git_push_runs_the_refs_real_head_not_a_forged_one(serve, repository):
    bare, _work, commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare))
    forged = "f" * 40
    answer = git_push(client, bare, ("refs/heads/main", ZEROS, forged))
    assert answer.status_code == 202 and answer.json()["run"] == "ci#1"
    run = context.service.get("ci#1")
    assert (run.commit, run.branch, run.user) == (commits[-1], "main", "git:Ada Lovelace")
    [delivery] = context.store.list_deliveries()
    assert delivery.delivery_id == f"git:refs/heads/main:{commits[-1]}"
    again = git_push(client, bare, ("refs/heads/main", ZEROS, commits[-1]))
    assert again.json()["status"] == "duplicate" and runs(context) == ["ci#1"]


def test_git_push_of_a_ref_that_does_not_exist_is_ignored_with_the_reason(serve, repository):
    bare, _work, _commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare))
    answer = git_push(client, bare, ("refs/heads/ghost", ZEROS, "a" * 40))
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert "refs/heads/ghost does not exist" in answer.json()["reason"]
    assert runs(context) == []


def test_git_push_paths_come_from_the_repository(serve, repository):
    bare, _work, commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare, 'paths = ["src/**"]'))
    # main's last commit changed docs/ only: the sender's word does not matter
    answer = git_push(client, bare, ("refs/heads/main", commits[0], commits[1]))
    assert answer.json()["status"] == "ignored"
    assert answer.json()["reason"] == "no changed path matches src/**"


@pytest.mark.parametrize("body_repository, status", [
    ("elsewhere", 401), ("", 400)])
def test_git_push_for_another_repository_is_refused(serve, repository, tmp_path,
                                                    body_repository, status):
    bare, _work, _commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare))
    other = tmp_path / body_repository if body_repository else ""
    answer = git_push(client, other, ("refs/heads/main", ZEROS, "a" * 40))
    assert answer.status_code == status and runs(context) == []


@pytest.mark.parametrize("ref", ["refs/heads/../../etc", "--upload-pack=evil", "HEAD",
                                 "refs/heads/a b", "refs/remotes/origin/main"])
def test_git_push_with_a_hostile_ref_is_400(serve, repository, ref):
    bare, _work, _commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare))
    answer = git_push(client, bare, (ref, ZEROS, "a" * 40))
    assert answer.status_code == 400 and runs(context) == []


def test_git_sender_is_refused_by_a_github_webhook(serve, repository):
    bare, _work, _commits = repository
    context, client = serve(pipeline("ci") + HOOKS)
    answer = client.post("/hooks/push", json={"repository": str(bare), "refs": [
        {"ref": "refs/heads/main", "before": ZEROS, "after": "a" * 40}]},
                         headers={"X-Flowplan-Git": "push"})
    assert answer.status_code == 401 and runs(context) == []


def test_github_delivery_to_a_git_webhook_is_401(serve, repository):
    bare, _work, _commits = repository
    context, client = serve(pipeline("ci") + git_hook(bare))
    body, headers = signed(push_payload())
    assert client.post("/hooks/local", content=body, headers=headers).status_code == 401
    assert runs(context) == []


def test_config_that_no_longer_loads_refuses_deliveries_with_503(serve):
    context, client = serve(pipeline("ci") + HOOKS)
    main = context.directory / "main.hcl"
    main.write_text(main.read_text() + '\npipeline "broken" {\n  stage = 1\n}\n')
    body, headers = signed(push_payload())
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.status_code == 503 and "the config does not load" in answer.json()["error"]
    assert runs(context) == []
    assert context.store.list_deliveries()[0].outcome == "refused"
