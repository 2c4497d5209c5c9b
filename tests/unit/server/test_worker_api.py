"""The routes remote workers move files through (/api/v1/worker), in-process over a real store:
who may call them (worker tokens only, the task run its worker claimed only), names that would
leave their directory, size limits, SHA-256 checks, and that a file sent is the file served."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flowplan.executor.distributed.worker_tokens import WorkerTokens, create_worker_token
from flowplan.executor.service import RunService
from flowplan.executor.settings import ExecutorSettings
from flowplan.server import worker_api
from flowplan.server.auth import Authenticator
from flowplan.store import Store

DEFINITION = {"version": 2, "variables": {}, "caches": {}, "stages": {"build": {
    "index": 0, "trigger": "auto", "tasks": {
        "one": {"steps": {"s": {"index": 0, "type": "command", "run": "true"}}},
        "two": {"steps": {"s": {"index": 0, "type": "command", "run": "true"}}}}}}}


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store.open(f"sqlite:///{root / 'flowplan.db'}", root)
        settings = ExecutorSettings.from_config(root / "server", {})
        self.service = RunService(self.store, settings)
        app = FastAPI()
        app.include_router(worker_api.router)
        app.state.context = SimpleNamespace(store=self.store, service=self.service)
        self.app = app
        self.client = TestClient(app)
        self.run = self.service.create("app", DEFINITION)
        tasks = {t.task: t for t in self.store.task_runs(self.run.id)}
        self.one, self.two = tasks["one"], tasks["two"]
        self.token = create_worker_token(self.store, "builder-1")
        self.store.claim_task(self.one.id, self.run.id, "builder-1")

    def url(self, kind: str, name: str, task=None, run=None) -> str:
        task = task or self.one
        return (f"/api/v1/worker/runs/{run or self.run.id}/tasks/{task.id}/{kind}/{name}")

    def put(self, url: str, data: bytes, token: str | None = None, sha: str | None = None,
            **params):
        return self.client.put(url, content=data, params=params, headers={
            "Authorization": f"Bearer {token or self.token}",
            "X-Content-SHA256": sha or hashlib.sha256(data).hexdigest()})

    def get(self, url: str, token: str | None = None, **params):
        return self.client.get(url, params=params,
                               headers={"Authorization": f"Bearer {token or self.token}"})


@pytest.fixture
def server(tmp_path):
    made = Server(tmp_path)
    yield made
    made.client.close()
    made.store.close()


def test_an_artifact_uploaded_by_the_task_is_kept_under_the_servers_artifacts_dir(server):
    data = b"archive bytes" * 1000
    answer = server.put(server.url("artifacts", "package"), data)
    assert answer.status_code == 200, answer.text
    kept = Path(answer.json()["path"])
    assert kept == server.root / "server/.flowplan/artifacts/app/1/package.tgz"
    assert kept.read_bytes() == data
    assert answer.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert [p.name for p in kept.parent.iterdir()] == ["package.tgz"]   # no upload left over


def test_an_artifact_recorded_for_the_run_is_served_with_its_sha256(server):
    data = b"x" * 70_000
    path = server.put(server.url("artifacts", "package"), data).json()["path"]
    server.store.put_artifact(server.run.id, "package", path=path, size=len(data),
                              sha256=hashlib.sha256(data).hexdigest())
    answer = server.get(server.url("artifacts", "package"))
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert server.get(server.url("artifacts", "other")).status_code == 404


def test_an_artifact_recorded_outside_the_servers_directories_is_not_served(server, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not an artifact")
    server.store.put_artifact(server.run.id, "evil", path=str(outside), size=15,
                              sha256=hashlib.sha256(b"not an artifact").hexdigest())
    answer = server.get(server.url("artifacts", "evil"))
    assert answer.status_code == 404
    assert "not on this server" in answer.json()["error"]


def test_an_upload_whose_sha256_differs_is_refused_and_nothing_is_kept(server):
    answer = server.put(server.url("artifacts", "package"), b"damaged",
                        sha=hashlib.sha256(b"original").hexdigest())
    assert answer.status_code == 400
    assert "does not match" in answer.json()["error"]
    directory = server.root / "server/.flowplan/artifacts/app/1"
    assert list(directory.iterdir()) == []
    missing = server.client.put(server.url("artifacts", "package"), content=b"x",
                                headers={"Authorization": f"Bearer {server.token}"})
    assert missing.status_code == 400 and "X-Content-SHA256" in missing.json()["error"]


def test_an_upload_past_the_size_limit_is_refused_while_it_streams(server):
    server.app.state.worker_upload_limit = 1000
    answer = server.put(server.url("artifacts", "big"), b"y" * 5000)
    assert answer.status_code == 413
    assert "1000" in answer.json()["error"]
    directory = server.root / "server/.flowplan/artifacts/app/1"
    assert not directory.exists() or list(directory.iterdir()) == []

    def chunks():               # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b"z" * 500
    streamed = server.client.put(server.url("artifacts", "big"), content=chunks(), headers={
        "Authorization": f"Bearer {server.token}",
        "X-Content-SHA256": hashlib.sha256(b"z" * 5000).hexdigest()})
    assert streamed.status_code == 413
    assert not directory.exists() or list(directory.iterdir()) == []


@pytest.mark.parametrize("name", ["..", ".", ".hidden%2F..", "a%00b", "%2E%2E"])
def test_names_that_are_not_one_plain_file_name_are_refused(server, name):
    answer = server.put(server.url("artifacts", name), b"data")
    assert answer.status_code in (400, 404), answer.text
    assert not (server.root / "server/.flowplan/artifacts/app").exists() or all(
        p.name == "1" for p in (server.root / "server/.flowplan/artifacts/app").iterdir())
    assert not list(server.root.glob("server/.flowplan/artifacts/*.tgz"))


@pytest.mark.parametrize("name", ["%2E%2E%5Cescape", ".hidden", "a%5C..%5C..%5Cx"])
def test_a_name_climbing_out_is_a_400_naming_it(server, name):
    answer = server.put(server.url("artifacts", name), b"data")
    assert answer.status_code == 400
    assert "cannot be used as a file name" in answer.json()["error"]
    cache = server.put(server.url("caches", name), b"data", key="k")
    assert cache.status_code == 400
    assert server.get(server.url("artifacts", name)).status_code == 400


@pytest.mark.parametrize("header", [
    None, "Bearer fpw_0123456789abcdef_forgedforgedforgedforged", "Bearer fpw_", "Basic eDp5",
    "Bearer " + "x" * 5000,
])
def test_missing_malformed_and_forged_worker_tokens_are_401(server, header):
    headers = {"X-Content-SHA256": hashlib.sha256(b"d").hexdigest()}
    if header:
        headers["Authorization"] = header
    answer = server.client.put(server.url("artifacts", "package"), content=b"d",
                               headers=headers)
    assert answer.status_code == 401
    assert "worker token" in answer.json()["error"]


def test_the_right_id_with_another_secret_is_401(server):
    token_id = server.token.split("_")[1]
    forged = f"fpw_{token_id}_{'A' * 43}"
    assert server.get(server.url("artifacts", "package"), token=forged).status_code == 401


def test_a_users_api_token_is_not_good_for_the_worker_routes(server):
    auth = Authenticator(server.store)
    server.store.add_user("alice", auth.hash_password("a long password"))
    user_token = auth.create_token("alice")
    assert auth.user_for_token(user_token) == "alice"
    assert server.get(server.url("artifacts", "package"), token=user_token).status_code == 401
    assert auth.user_for_token(server.token) is None      # nor a worker token for the API


def test_a_revoked_worker_token_is_refused_from_then_on(server):
    data = b"before"
    assert server.put(server.url("artifacts", "package"), data).status_code == 200
    token_id = server.token.split("_")[1]
    assert server.store.delete_worker_token(token_id)
    assert server.put(server.url("artifacts", "package"), data).status_code == 401
    assert WorkerTokens(server.store).worker_for(server.token) is None


def test_a_worker_reaches_only_the_task_run_it_claimed_of_that_run(server):
    other_worker = create_worker_token(server.store, "builder-2")
    assert server.put(server.url("artifacts", "p"), b"d", token=other_worker).status_code == 403
    not_claimed = server.put(server.url("artifacts", "p", task=server.two), b"d")
    assert not_claimed.status_code == 403
    assert "does not run task run" in not_claimed.json()["error"]
    other_run = server.service.create("app", DEFINITION)
    wrong_run = server.put(server.url("artifacts", "p", run=other_run.id), b"d")
    assert wrong_run.status_code == 403
    server.store.release_task(server.one.id, "builder-1")
    assert server.put(server.url("artifacts", "p"), b"d").status_code == 403


def test_a_cache_key_is_saved_once_indexed_and_served_to_the_runs_pipeline(server):
    first, second = b"first cache archive", b"second cache archive"
    saved = server.put(server.url("caches", "deps"), first, key="deps-abc")
    assert saved.status_code == 200 and saved.json() == {"saved": True}
    again = server.put(server.url("caches", "deps"), second, key="deps-abc")
    assert again.json() == {"saved": False}
    entry = server.store.find_cache_entry("app", "deps", "deps-abc")
    assert entry is not None and entry.sha256 == hashlib.sha256(first).hexdigest()
    assert Path(entry.path).is_relative_to(server.root / "server/.flowplan/caches/app/deps")
    served = server.get(server.url("caches", "deps"), key="deps-abc")
    assert served.status_code == 200 and served.content == first
    assert server.get(server.url("caches", "deps"), key="other").status_code == 404
    leftovers = [p.name for p in Path(entry.path).parent.iterdir()]
    assert leftovers == [Path(entry.path).name]


def test_a_report_is_kept_under_its_own_name_and_other_file_names_are_refused(server):
    data = b'{"runs": []}'
    kept = server.put(server.url("artifacts", "t.scan.sarif"), data, file="t.scan.sarif")
    assert kept.status_code == 200, kept.text
    assert Path(kept.json()["path"]) == server.root / ("server/.flowplan/artifacts/app/1/"
                                                       "t.scan.sarif")
    archive = server.put(server.url("artifacts", "app"), data, file="app.tgz")
    assert Path(archive.json()["path"]).name == "app.tgz"
    for file in ("other.tgz", "../app.tgz", "app"):
        refused = server.put(server.url("artifacts", "pkg"), data, file=file)
        assert refused.status_code == 400, file
