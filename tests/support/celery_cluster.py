"""Real `flowplan worker` processes for the celery executor's tests: a broker, a shared store and
the workers of one test module, and drivers (RunService) that send them tasks.

The store's URL reaches every process through $FLOWPLAN_STORE, so a PostgreSQL password is kept
out of config files and argv."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from flowplan.executor.service import RunService
from flowplan.executor.settings import ExecutorSettings
from flowplan.store import Store

# Short intervals so that a test sees a cancel, a lost worker or a log line quickly.
FAST_SETTINGS = dict(kill_grace=0.5, poll_interval=0.05, log_flush_interval=0.05,
                     heartbeat_interval=0.2, heartbeat_timeout=1.5)


class CeleryCluster:
    """A broker (a started redis_server.Redis), a store (on `postgres`, a started
    postgres.Postgres, when given) and the workers started on them."""

    def __init__(self, root: Path, redis, store_url: str, postgres=None) -> None:
        self.root = root
        self.redis = redis
        self.postgres = postgres
        self.broker = redis.url
        self.store_url = store_url
        self.workers: list[subprocess.Popen] = []

    def config_dir(self, name: str, body: str = "") -> Path:
        """A config directory under the cluster's root: the shared `flowplan {}` block, then
        `body`."""
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        settings = ('flowplan {\n  store = env("FLOWPLAN_STORE", "sqlite:///none.db")\n'
                    f'  executor = "celery"\n  broker = "{self.broker}"\n}}\n')
        (directory / "main.hcl").write_text(settings + body)
        return directory

    def start_worker(self, name: str, queue: str, concurrency: int = 2) -> subprocess.Popen:
        directory = self.config_dir(name)
        with open(directory / "worker.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flowplan.cli", "-C", str(directory), "worker",
                 "--queue", queue, "--concurrency", str(concurrency)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=self.environment())
        self.workers.append(process)
        return process

    def service(self, driver: str = "driver", team: str = "default", **overrides) -> RunService:
        """A driver of `team` in its own directory under the root, with FAST_SETTINGS and
        `overrides`."""
        settings = dict(FAST_SETTINGS, executor="celery", broker=self.broker)
        settings.update(overrides)
        directory = self.root / driver
        directory.mkdir(exist_ok=True)
        store = Store.open(self.store_url, base_dir=directory, team=team)
        return RunService(store, ExecutorSettings.from_config(directory, {}, **settings))

    def flowplan(self, directory: Path, *args: str, timeout: float = 60
                 ) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flowplan.cli", "-C", str(directory),
                               *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=self.environment())

    def environment(self) -> dict[str, str]:
        return {**os.environ,
                "FLOWPLAN_STORE": self.store_url.replace("postgresql+psycopg://", "postgresql://")}

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
        for process in self.workers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(check, seconds: float = 30.0, what: str = "condition"):
    """What `check()` returns once it is truthy; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def in_background(call) -> tuple[threading.Thread, list]:
    """`call()` on a daemon thread; the list receives its result."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    return thread, outcome
