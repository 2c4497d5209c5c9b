"""Workers that share nothing with the driver but the store, the broker and the server: a real
`flowplan serve`, Redis and two `flowplan worker` processes on different queues, each with its own
workspace_dir, artifacts_dir and cache_dir, moving artifacts and caches through the server's
worker routes with their worker tokens; sensitive variables reaching them encrypted; a
manual_approval approved through the CLI continuing on a worker."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import load_pipeline, log_text, steps_of, tasks_of
from flowplan.executor.distributed.worker_tokens import create_worker_token
from flowplan.executor.service import RunService
from flowplan.executor.settings import ExecutorSettings
from flowplan.executor.status import Status
from flowplan.store import Store

pytestmark = pytest.mark.timeout(180)

SECRET = "s3cr3t-api-token-5d1f0b"
OPERATOR_KEY = "an operator key for these tests, long enough"

PIPELINE = '''
variable "api_token" {
  sensitive = true
}

pipeline "shipit" {
  cache "deps" {
    key   = "deps-v1"
    paths = ["deps"]
  }
  stage "build" {
    task "compile" {
      runs_on = "build"
      step "make" {
        type = "command"
        run  = <<-EOT
          if test -f deps/lib.txt; then echo "deps already here"; fi
          mkdir -p out deps
          echo "built in $PWD" > out/app.txt
          echo "dependency from the builder" > deps/lib.txt
          test "$(printf %s "${var.api_token}" | sha256sum | cut -c1-64)" = "DIGEST"
          echo "token ok: ${var.api_token}"
        EOT
      }
      step "pack" {
        type  = "archive"
        name  = "app"
        paths = ["out/**"]
      }
    }
  }
  stage "test" {
    task "check" {
      step "fetch" {
        type = "download_artifact"
        name = "app"
      }
      step "look" {
        type = "command"
        run  = "cat out/app.txt; cat deps/lib.txt; echo checked in $PWD"
      }
    }
  }
}

pipeline "gated" {
  stage "main" {
    task "release" {
      runs_on = "build"
      step "prepare" {
        type = "command"
        run  = "echo prepared > note.txt"
      }
      step "ok" {
        type = "manual_approval"
      }
      step "go" {
        type = "command"
        run  = "cat note.txt; echo released in $PWD"
      }
    }
  }
}
'''.replace("DIGEST", hashlib.sha256(SECRET.encode()).hexdigest())


def _flowplan(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowplan.cli", *args]


class Machines:
    """A store, a broker, a server and two worker machines (directories sharing nothing)."""

    def __init__(self, root: Path, redis) -> None:
        from ports import free_port

        self.root = root
        self.redis = redis
        self.store_url = f"sqlite:///{root / 'flowplan.db'}"
        self.port = free_port()
        self.key_file = root / "operator.key"
        self.key_file.write_text(OPERATOR_KEY + "\n")
        self.key_file.chmod(0o600)
        self.processes: list[subprocess.Popen] = []
        self.tokens: dict[str, str] = {}

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self, **extra: str) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("FLOWPLAN_", "FP_VAR_"))}
        environ.update(FLOWPLAN_SECRET_KEY_FILE=str(self.key_file), **extra)
        return environ

    def machine(self, name: str, body: str) -> Path:
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        (directory / "main.hcl").write_text(f'flowplan {{\n  store = "{self.store_url}"\n'
                                            f'{body}}}\n')
        return directory

    def start(self, name: str, args: list[str], environ: dict[str, str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        process = subprocess.Popen(_flowplan("-C", str(self.root / name), *args), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environ, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def start_server(self) -> None:
        self.machine("server", f'  server {{\n    host = "127.0.0.1"\n    port = {self.port}\n'
                               '  }\n')
        process = self.start("server", ["serve"], self.environ())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (self.root / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{self.server_url}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server did not answer /healthz")

    def worker_config(self, name: str) -> Path:
        return self.machine(name, f'  executor = "celery"\n  broker = "{self.redis.url}"\n'
                                  f'  server {{\n    url = "{self.server_url}"\n  }}\n')

    def start_worker(self, name: str, queue: str, token: str) -> subprocess.Popen:
        self.worker_config(name)
        return self.start(name, ["worker", "--queue", queue, "--concurrency", "2"],
                          self.environ(FLOWPLAN_WORKER_TOKEN=token))

    def driver(self) -> RunService:
        directory = self.machine("driver", f'  executor = "celery"\n'
                                           f'  broker = "{self.redis.url}"\n')
        store = Store.open(self.store_url, base_dir=directory)
        settings = ExecutorSettings.from_config(
            directory, {}, kill_grace=0.5, poll_interval=0.05, log_flush_interval=0.05,
            executor="celery", broker=self.redis.url, heartbeat_interval=0.2,
            heartbeat_timeout=6.0, environ=self.environ())
        return RunService(store, settings)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    from redis_server import redis_problem, start_redis

    problem = redis_problem()
    if problem is not None:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("remote")
    with start_redis(root) as redis:
        made = Machines(root, redis)
        store = Store.open(made.store_url, base_dir=root)
        made.tokens = {name: create_worker_token(store, name) for name in ("builder", "general")}
        store.close()
        try:
            made.start_server()
            made.start_worker("builder", "build", made.tokens["builder"])
            made.start_worker("general", "default", made.tokens["general"])
            yield made
        finally:
            made.stop()


@pytest.fixture
def driver(machines, tmp_path):
    service = machines.driver()
    yield service
    service.store.close()


def _definitions(machines) -> Path:
    """Where the pipelines are loaded from (not a machine's config directory)."""
    directory = machines.root / "definitions"
    directory.mkdir(exist_ok=True)
    return directory


class BrokerWatch:
    """Everything that goes through Redis while it runs (MONITOR), to look for secrets."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(5)

    def _watch(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                self.seen.append(str(command.get("command")))
                if "FLOWPLAN-TEST-STOP" in self.seen[-1]:
                    return

    def stop(self) -> list[str]:
        self.client.set("FLOWPLAN-TEST-STOP", "1")
        self._thread.join(10)
        self.client.delete("FLOWPLAN-TEST-STOP")
        return self.seen


def test_tasks_on_two_worker_machines_pass_an_artifact_and_a_cache_through_the_server(
        machines, driver):
    definition, _values, sensitive = load_pipeline(_definitions(machines), PIPELINE,
                                                   "shipit", {"api_token": SECRET})
    watch = BrokerWatch(machines.redis.url)

    outcome = driver.start("shipit", definition, variables={"api_token": SECRET},
                           sensitive=sensitive)

    seen = watch.stop()
    assert outcome.status == Status.SUCCEEDED, (outcome.error, log_text(driver, outcome.run))
    builder, general, server = (machines.root / n for n in ("builder", "general", "server"))
    checked = log_text(driver, outcome.run, task="check")
    # the artifact made on the builder, downloaded by the general worker through the server
    assert f"built in {builder}/.flowplan/workspaces/shipit/1/build/compile" in checked, checked
    assert any(f"checked in {general}/.flowplan/workspaces" in line for line in checked)
    record = driver.store.get_artifact(outcome.run_id, "app")
    assert Path(record.path) == server / ".flowplan/artifacts/shipit/1/app.tgz"
    assert (general / ".flowplan/artifacts/shipit/1/app.tgz").is_file()    # its own copy
    assert not [p for p in (machines.root / "driver").rglob("*.tgz")]     # nothing on the driver
    # the cache saved on the builder, restored on the general worker
    assert "dependency from the builder" in checked
    assert any("cache deps: restored from key deps-v1" in line for line in checked), checked
    compiled = log_text(driver, outcome.run, task="compile")
    assert any("cache deps: saved under key deps-v1" in line for line in compiled), compiled
    entry = driver.store.find_cache_entry("shipit", "deps", "deps-v1")
    assert Path(entry.path).is_relative_to(server / ".flowplan/caches")
    # the sensitive value reached the builder, masked in its log, and nowhere in clear
    assert "token ok: ***" in compiled, compiled
    assert not any(SECRET in line for line in compiled + checked)
    assert not any(SECRET in command for command in seen), "the secret went through Redis"
    assert any("flowplan.run_task" in command for command in seen)   # the watch saw messages
    for key in watch.client.keys("*"):
        kind = watch.client.type(key).decode()
        dump = watch.client.dump(key) if kind != "none" else b""
        assert SECRET.encode() not in (dump or b""), key
    assert driver.store.run_secret_tokens(outcome.run_id) == {}   # deleted
    assert SECRET.encode() not in (machines.root / "flowplan.db").read_bytes()
    wal = machines.root / "flowplan.db-wal"
    assert not wal.exists() or SECRET.encode() not in wal.read_bytes()


def test_a_manual_approval_under_celery_continues_on_the_worker_after_a_cli_approve(
        machines, driver):
    definition, _values, _sensitive = load_pipeline(_definitions(machines), PIPELINE, "gated")

    waiting = driver.start("gated", definition)

    assert waiting.status == Status.WAITING, waiting.error
    assert tasks_of(driver, waiting.run)["release"].status == Status.WAITING
    approved = subprocess.run(
        _flowplan("-C", str(machines.root / "driver"), "approve", waiting.run, "--as", "alice",
                  "--comment", "ship it"),
        capture_output=True, text=True, env=machines.environ(), timeout=120)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    run = driver.get(waiting.run)
    assert Status(run.status) == Status.SUCCEEDED, (run.error, approved.stdout)
    steps = steps_of(driver, waiting.run)
    assert [steps[("release", s)].status for s in ("prepare", "ok", "go")] == [
        Status.SUCCEEDED] * 3
    released = log_text(driver, waiting.run, task="release")
    assert "prepared" in released, released
    assert any(f"released in {machines.root / 'builder'}" in line for line in released)
    assert [a.user for a in driver.store.approvals(run.id)] == ["alice"]


def test_a_worker_with_a_revoked_or_user_token_refuses_to_start_without_showing_it(machines):
    store = Store.open(machines.store_url, base_dir=machines.root)
    token = create_worker_token(store, "temporary")
    assert store.delete_worker_token(token.split("_")[1])
    store.close()
    directory = machines.worker_config("revoked")
    for given in (token, "fpt_0123456789abcdef_" + "u" * 43):
        started = subprocess.run(
            _flowplan("-C", str(directory), "worker", "--queue", "nowhere"),
            capture_output=True, text=True, env=machines.environ(FLOWPLAN_WORKER_TOKEN=given),
            timeout=60)
        assert started.returncode == 1
        assert "is not a worker token this store knows" in started.stderr, started.stderr
        assert given not in started.stdout + started.stderr
    without = subprocess.run(_flowplan("-C", str(directory), "worker", "--queue", "nowhere"),
                             capture_output=True, text=True, env=machines.environ(), timeout=60)
    assert without.returncode == 1
    assert "set FLOWPLAN_WORKER_TOKEN to a worker token" in without.stderr, without.stderr


PAUSED = '''
pipeline "paused" {
  stage "main" {
    task "release" {
      runs_on = "pause"
      step "prepare" {
        type = "command"
        run  = "echo prepared > note.txt; echo prepared in $PWD"
      }
      step "ok" {
        type = "manual_approval"
      }
      step "go" {
        type = "command"
        run  = "test -f note.txt || echo no note here; echo released in $PWD"
      }
    }
  }
}
'''


def test_a_task_that_waited_on_a_worker_machine_now_gone_continues_on_another(machines,
                                                                              driver):
    definition, _values, _sensitive = load_pipeline(_definitions(machines), PAUSED, "paused")
    first = machines.start_worker("first", "pause", machines.tokens["builder"])
    waiting = driver.start("paused", definition)
    assert waiting.status == Status.WAITING, waiting.error
    first.terminate()
    first.wait(20)
    shutil.rmtree(machines.root / "first" / ".flowplan")     # its machine is gone
    machines.start_worker("second", "pause", machines.tokens["general"])

    approved = subprocess.run(
        _flowplan("-C", str(machines.root / "driver"), "approve", waiting.run, "--as", "bob"),
        capture_output=True, text=True, env=machines.environ(), timeout=120)

    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert Status(driver.get(waiting.run).status) == Status.SUCCEEDED
    lines = log_text(driver, waiting.run, task="release")
    assert any(f"prepared in {machines.root / 'first'}" in line for line in lines), lines
    assert any(f"released in {machines.root / 'second'}" in line for line in lines), lines
    assert "no note here" in lines
    assert any("which is not on this machine; it continues in a fresh workspace here" in line
               for line in lines), lines
    record = tasks_of(driver, waiting.run)["release"]
    assert record.workspace.startswith(str(machines.root / "second"))


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_files_stream_through_the_server_and_a_changed_file_is_refused_on_download(
        machines, driver, tmp_path):
    import tracemalloc

    from flowplan.executor.distributed.remote_files import RemoteFileError, RemoteFiles

    run = driver.create("streamed", {"version": 2, "caches": {}, "stages": {"s": {
        "index": 0, "tasks": {"t": {"steps": {"x": {"index": 0, "type": "command",
                                                    "run": "true"}}}}}}})
    task_run = driver.store.task_runs(run.id)[0]
    driver.store.claim_task(task_run.id, run.id, "builder")
    big = tmp_path / "big.tgz"
    with open(big, "wb") as out:
        for _ in range(64):
            out.write(os.urandom(1024 * 1024))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    server = machines.processes[0]
    before = _peak_rss_kib(server.pid)
    files = RemoteFiles(machines.server_url, machines.tokens["builder"]).for_task(run.id,
                                                                                   task_run.id)
    tracemalloc.start()
    kept = files.upload_artifact("big", big, digest)
    driver.store.put_artifact(run.id, "big", path=kept, size=big.stat().st_size, sha256=digest)
    copy = files.fetch_artifact("big", tmp_path / "copy" / "big.tgz", digest)
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert peak < 8 * 1024 * 1024, f"the worker held {peak} bytes at once"
    grown = _peak_rss_kib(server.pid) - before
    assert grown < 32 * 1024, f"the server's peak memory grew by {grown} KiB for 64 MiB"
    Path(kept).write_bytes(b"changed on the server")
    with pytest.raises(RemoteFileError, match="sha256 does not match"):
        files.fetch_artifact("big", tmp_path / "again" / "big.tgz", digest)
    assert list((tmp_path / "again").iterdir()) == []
    driver.store.release_task(task_run.id, "builder")
    with pytest.raises(RemoteFileError, match="403"):
        files.fetch_artifact("big", tmp_path / "third" / "big.tgz", digest)
    assert machines.tokens["builder"] not in repr(files.files)


def test_a_celery_run_with_sensitive_values_and_no_operator_key_is_refused_and_recorded(
        machines):
    from flowplan.executor.errors import RunServiceError

    definition, _values, sensitive = load_pipeline(_definitions(machines), PIPELINE, "shipit",
                                                   {"api_token": SECRET})
    directory = machines.root / "driver"
    store = Store.open(machines.store_url, base_dir=directory)
    environ = {k: v for k, v in machines.environ().items() if not k.startswith("FLOWPLAN_")}
    service = RunService(store, ExecutorSettings.from_config(
        directory, {}, executor="celery", broker=machines.redis.url, environ=environ))
    try:
        with pytest.raises(RunServiceError, match="reach celery workers encrypted with the "
                                                  "operator key, and there is none") as raised:
            service.start("shipit", definition, variables={"api_token": SECRET},
                          sensitive=sensitive)
        assert SECRET not in str(raised.value)
        run = service.list_runs("shipit")[0]
        assert Status(run.status) == Status.FAILED
        assert "operator key" in run.error
        assert store.run_secret_tokens(run.id) == {}
    finally:
        store.close()


KEYLESS = '''
variable "api_token" {
  sensitive = true
}

pipeline "keyless" {
  stage "main" {
    task "use" {
      runs_on = "nokey"
      step "show" {
        type = "command"
        run  = "echo ${var.api_token}"
      }
    }
  }
}
'''


def test_a_worker_without_the_operator_key_fails_the_task_saying_what_it_needs(machines,
                                                                              driver):
    definition, _values, sensitive = load_pipeline(_definitions(machines), KEYLESS, "keyless",
                                                   {"api_token": SECRET})
    machines.worker_config("keyless")
    environ = {k: v for k, v in machines.environ().items() if k != "FLOWPLAN_SECRET_KEY_FILE"}
    machines.start("keyless", ["worker", "--queue", "nokey"],
                   {**environ, "FLOWPLAN_WORKER_TOKEN": machines.tokens["general"]})

    outcome = driver.start("keyless", definition, variables={"api_token": SECRET},
                           sensitive=sensitive)

    assert outcome.status == Status.FAILED
    error = tasks_of(driver, outcome.run)["use"].error
    assert "cannot be opened on this worker" in error, error
    assert "every worker needs the driver's operator key" in error
    assert SECRET not in error and SECRET not in (outcome.error or "")
