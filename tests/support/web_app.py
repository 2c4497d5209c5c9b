"""A test harness for the REST API and the dashboard (flowplan.server.api, .dashboard), written
while `flowplan serve`'s own classes (flowplan.server.auth, .launcher, .context, .app) were being
written on other branches. Everything here keeps to the interfaces of the issue-10 brief, so that
the routers under test see exactly what the server gives them:

- `HarnessAuthenticator`: the `Authenticator` interface (argon2 password hashes, `fpt_ID_SECRET`
  bearer tokens kept as hashes, sessions with a CSRF token and an expiry), users and sessions
  kept in memory instead of the store's `users` tables.
- `HarnessLauncher`: the `Launcher` interface. `start` prepares the applied definition with the
  real `engine.prepare_run`, records the run with the real RunService and drives it on a thread;
  `continue_in_background` runs an action on a thread and keeps what it raised in `failures`.
- `HarnessContext`: the `ServerContext` fields the routers read.
- `make_web_app(directory)`: a FastAPI app with the two routers and the context on
  `app.state.context`, as `create_app` makes it.

When flowplan.server.auth or flowplan.server.launcher cannot be imported (this branch alone), the
module installs stand-ins for them in sys.modules holding the names the routers import
(SESSION_COOKIE, CSRF_FIELD, CSRF_HEADER, Session, LaunchRefused); with the real modules present
it uses theirs. The integrator's switch after the merge: `make_web_app` builds the real
`ServerContext` (`Authenticator(store)`, `Launcher(directory, service)`) and `create_app`, and
`add_user` calls `store.add_user(name, auth.hash_password(password))`.

Runs are real: a config in a temporary directory applied in-process (tests/support/inline.py),
a real SQLite store, real steps. `serve(app)` runs the app under a real uvicorn on a free
127.0.0.1 port, for what only a real HTTP connection shows (server-sent events arriving while a
run goes on, the browser).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import secrets
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SESSION_COOKIE = "flowplan_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    cookie: str
    user: str
    csrf: str
    expires_at: datetime


class LaunchRefused(Exception):
    """A run the launcher will not start; the message is for the person."""


def _install_stand_ins() -> None:
    """Modules for flowplan.server.auth and .launcher while this branch has neither."""
    if importlib.util.find_spec("flowplan.server.auth") is None:
        auth = types.ModuleType("flowplan.server.auth", "stand-in (tests/support/web_app.py)")
        auth.__dict__.update(SESSION_COOKIE=SESSION_COOKIE, CSRF_FIELD=CSRF_FIELD,
                             CSRF_HEADER=CSRF_HEADER, Session=Session,
                             Authenticator=HarnessAuthenticator)
        sys.modules["flowplan.server.auth"] = auth
    if importlib.util.find_spec("flowplan.server.launcher") is None:
        launcher = types.ModuleType("flowplan.server.launcher",
                                    "stand-in (tests/support/web_app.py)")
        launcher.__dict__.update(LaunchRefused=LaunchRefused, Launcher=HarnessLauncher)
        sys.modules["flowplan.server.launcher"] = launcher


# -- authentication --------------------------------------------------------------------------------

def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class HarnessAuthenticator:
    """The Authenticator interface over users, tokens and sessions kept in memory."""

    def __init__(self, store: Any = None, *, session_ttl: timedelta = timedelta(hours=12)):
        from argon2 import PasswordHasher

        self.store = store
        self.session_ttl = session_ttl
        self.users: dict[str, str] = {}               # name -> argon2 hash
        self.tokens: dict[str, tuple[str, str]] = {}  # id -> (user, sha256 of the secret)
        self.sessions: dict[str, Session] = {}        # sha256 of the cookie -> session
        self._hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
        self._dummy = self._hasher.hash("no such user")

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def check_password(self, name: str, password: str) -> str | None:
        from argon2.exceptions import Argon2Error

        stored = self.users.get(name)
        try:
            self._hasher.verify(stored or self._dummy, password)
        except Argon2Error:
            return None
        return name if stored is not None else None

    def create_token(self, user: str, description: str = "", *, by: str | None = None) -> str:
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
        self.tokens[token_id] = (user, _digest(secret))
        return f"fpt_{token_id}_{secret}"

    def user_for_token(self, token: str) -> str | None:
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        known = self.tokens.get(token_id)
        if prefix != "fpt" or known is None or not secret:
            return None
        user, digest = known
        if not hmac.compare_digest(digest, _digest(secret)) or user not in self.users:
            return None
        return user

    def open_session(self, user: str) -> Session:
        cookie = secrets.token_urlsafe(32)
        session = Session(cookie, user, secrets.token_urlsafe(32),
                          datetime.now(timezone.utc) + self.session_ttl)
        self.sessions[_digest(cookie)] = session
        return session

    def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        found = self.sessions.get(_digest(cookie))
        if found is None or found.expires_at <= datetime.now(timezone.utc) \
                or found.user not in self.users:
            return None
        return found

    def close_session(self, cookie: str) -> None:
        self.sessions.pop(_digest(cookie), None)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())


def add_user(context: Any, name: str, password: str) -> None:
    """A dashboard user, as `flowplan user add` makes one."""
    context.auth.users[name] = context.auth.hash_password(password)


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
    notes: list[str] = field(default_factory=list)


def make_web_app(directory: Path, *, session_ttl: timedelta = timedelta(hours=12)
                 ) -> tuple[Any, HarnessContext]:
    """(app, context): the API and dashboard routers over the applied config in `directory`."""
    from fastapi import FastAPI

    from flowplan import engine
    from flowplan.server import api, dashboard

    service = engine.open_run_service(directory)
    context = HarnessContext(Path(directory), {}, service, service.store,
                             HarnessLauncher(directory, service),
                             HarnessAuthenticator(service.store, session_ttl=session_ttl))
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
                                 f"{context.launcher.failures}")
        time.sleep(0.05)


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


_install_stand_ins()
