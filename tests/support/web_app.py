"""The REST API and the dashboard (flowplan.server.api, .dashboard) as `flowplan serve` serves
them, for tests:

- `make_web_app(directory)`: `create_app` over the real `ServerContext` (run service, Launcher,
  webhooks, jobs) of a config applied in `directory`, with the real `Authenticator` using a cheap
  argon2 hasher so that logins are fast; `add_user` adds a user as `flowplan user add` does.
- `serve(app)` runs the app under a real uvicorn on a free 127.0.0.1 port, for what only a real
  HTTP connection shows (server-sent events arriving while a run goes on, the browser).

Runs are real: a config in a temporary directory applied in-process (tests/support/inline.py),
a real SQLite store, real steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from tests.support.ports import free_port


# -- users ----------------------------------------------------------------------------------------

def add_user(context: Any, name: str, password: str) -> None:
    """A dashboard user, as `flowplan user add` makes one."""
    context.store.add_user(name, context.auth.hash_password(password))


def make_web_app(directory: Path, *, session_ttl: timedelta = timedelta(hours=12),
                 environ: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """(app, context): `create_app` over the real `ServerContext` of the applied config in
    `directory`, its Authenticator with a cheap argon2 hasher (fast logins)."""
    from argon2 import PasswordHasher

    from flowplan.server.app import create_app
    from flowplan.server.auth import Authenticator
    from flowplan.server.context import ServerContext

    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)    # fast tests
    context = ServerContext.load(directory, environ if environ is not None else {})
    context.auth = Authenticator(context.store, session_ttl=session_ttl, hasher=cheap)
    return create_app(context), context


def close_web_app(context: Any) -> None:
    context.close()


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



def without_lifespan(app: Any) -> Any:
    """`app` for clients that open and close its lifespan around every request (schemathesis'
    ASGI calls): startup and shutdown are acknowledged and not passed on, so the server's jobs
    and launcher live as long as the test's context, not one request."""
    async def asgi(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    return asgi
