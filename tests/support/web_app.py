"""A test harness for the REST API and the dashboard (flowplan.server.api, .dashboard), written
while `flowplan serve`'s own classes (flowplan.server.launcher, .context, .app) were being written
on another branch. Everything here keeps to the interfaces of the issue-10 brief, so that the
routers under test see exactly what the server gives them:

- the real `Authenticator` (flowplan.server.auth) over the real store, with a cheap argon2
  hasher so that logins are fast; `add_user` adds a user as `flowplan user add` does.
- `HarnessLauncher`: the `Launcher` interface. `start` prepares the applied definition with the
  real `engine.prepare_run`, records the run with the real RunService and drives it on a thread;
  `continue_in_background` runs an action on a thread and keeps what it raised in `failures`.
- `HarnessContext`: the `ServerContext` fields the routers read.
- `make_web_app(directory)`: a FastAPI app with the two routers and the context on
  `app.state.context`, as `create_app` makes it.

When flowplan.server.launcher cannot be imported (this branch alone), the module installs a
stand-in for it in sys.modules holding the names the routers import (LaunchRefused); with the
real module present it uses that one's LaunchRefused. The integrator's switch after the merge:
`make_web_app` builds the real `ServerContext` (`Launcher(directory, service)`) and
`create_app`, and the stand-in goes.

Runs are real: a config in a temporary directory applied in-process (tests/support/inline.py),
a real SQLite store, real steps. `serve(app)` runs the app under a real uvicorn on a free
127.0.0.1 port, for what only a real HTTP connection shows (server-sent events arriving while a
run goes on, the browser).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any


class LaunchRefused(Exception):
    """A run the launcher will not start; the message is for the person."""


def _install_stand_in() -> None:
    """A module for flowplan.server.launcher while this branch does not have it."""
    if importlib.util.find_spec("flowplan.server.launcher") is None:
        launcher = types.ModuleType("flowplan.server.launcher",
                                    "stand-in (tests/support/web_app.py)")
        launcher.__dict__.update(LaunchRefused=LaunchRefused, Launcher=HarnessLauncher)
        sys.modules["flowplan.server.launcher"] = launcher


# -- users ----------------------------------------------------------------------------------------

def add_user(context: Any, name: str, password: str) -> None:
    """A dashboard user, as `flowplan user add` makes one."""
    context.store.add_user(name, context.auth.hash_password(password))


# -- starting and continuing runs ------------------------------------------------------------------

class HarnessLauncher:
    """The Launcher interface: runs prepared from the applied definition, driven on threads."""

    def __init__(self, directory: Path, service: Any, *, environ: Mapping[str, str] | None = None):
        self.directory = Path(directory)
        self.service = service
        self.environ = dict(environ) if environ is not None else {}
        self.failures: list[tuple[str, BaseException]] = []
        self.accepting = True
        self._threads: dict[str, list[threading.Thread]] = {}
        self._lock = threading.Lock()

    def start(self, pipeline: str, *, trigger: str, user: str | None,
              variables: Mapping[str, str] | None = None, branch: str | None = None,
              commit: str | None = None) -> Any:
        from flowplan import engine
        from flowplan.diagnostics import DiagnosticsError
        from flowplan.executor.errors import RunServiceError
        from flowplan.server.launcher import LaunchRefused as Refused

        try:
            prepared = engine.prepare_run(self.directory, pipeline,
                                          pipeline_variables=dict(variables or {}),
                                          environ=self.environ)
        except (engine.RunRefused, DiagnosticsError) as exc:
            raise Refused(str(exc)) from None
        prepared.service.store.close()
        try:
            run = self.service.create(pipeline, prepared.definition,
                                      variables=prepared.variables,
                                      sensitive=prepared.sensitive, branch=branch,
                                      commit=commit, trigger=trigger, user=user,
                                      origin=prepared.origin)
        except RunServiceError as exc:
            raise Refused(str(exc)) from None
        self._spawn(run.ref, lambda: self.service.drive(
            run.ref, variables=prepared.variables, sensitive=prepared.sensitive))
        return run

    def continue_in_background(self, run: str, action: Callable[[], Any]) -> None:
        from flowplan.server.launcher import LaunchRefused as Refused

        if not self.accepting:
            raise Refused("the server is stopping: try again when it is back")
        self._spawn(run, action)

    def running(self) -> list[str]:
        with self._lock:
            return sorted(ref for ref, threads in self._threads.items()
                          if any(t.is_alive() for t in threads))

    def shutdown(self, timeout: float = 10.0) -> None:
        """Refuse new work, cancel the runs still going, then wait for their threads."""
        from flowplan.executor.errors import RunServiceError

        self.accepting = False
        for ref in self.running():
            try:
                self.service.cancel(ref, user="harness")
            except RunServiceError:
                pass
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [t for group in self._threads.values() for t in group]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, ref: str, action: Callable[[], Any]) -> None:
        def body() -> None:
            try:
                action()
            except BaseException as exc:    # kept for the test to see, as a server logs it
                self.failures.append((ref, exc))

        thread = threading.Thread(target=body, name=f"run {ref}", daemon=True)
        with self._lock:
            self._threads.setdefault(ref, []).append(thread)
        thread.start()


# -- the server's context and app ------------------------------------------------------------------

@dataclass
class HarnessContext:
    directory: Path
    settings: dict
    service: Any
    store: Any
    launcher: Any
    auth: Any
    hooks: Any = None


def make_web_app(directory: Path, *, session_ttl: timedelta = timedelta(hours=12)
                 ) -> tuple[Any, HarnessContext]:
    """(app, context): the API and dashboard routers over the applied config in `directory`."""
    from argon2 import PasswordHasher
    from fastapi import FastAPI

    from flowplan import engine
    from flowplan.server import api, dashboard
    from flowplan.server.auth import Authenticator

    service = engine.open_run_service(directory)
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)    # fast tests
    context = HarnessContext(Path(directory), {}, service, service.store,
                             HarnessLauncher(directory, service),
                             Authenticator(service.store, session_ttl=session_ttl, hasher=cheap))
    app = FastAPI(title="flowplan", version="1")
    app.state.context = context
    app.include_router(api.router)
    app.include_router(dashboard.router)
    return app, context


def close_web_app(context: HarnessContext) -> None:
    context.launcher.shutdown()
    context.store.close()


def apply_config(directory: Path, hcl: str) -> Path:
    """Write `hcl` into `directory` and apply it in-process: its pipelines are registered."""
    from inline import apply_all, inline_config

    apply_all(inline_config(directory, hcl))
    return directory


def wait_for_run(context: Any, ref: str, *statuses: str, timeout: float = 30.0) -> Any:
    """The run's record once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        run = context.service.get(ref)
        if run.status in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"{ref} is {run.status} after {timeout}s, not "
                                 f"{' or '.join(statuses)}; background failures: "
                                 f"{getattr(context.launcher, 'failures', 'in the log')}")
        time.sleep(0.05)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """`predicate()`'s first true value, looked at every 50 ms."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                            lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


_install_stand_in()
