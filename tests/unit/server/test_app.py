"""The app around the routers: periodic jobs run on threads while it lives (a failing tick is
logged and the job goes on), stop with it, and the launcher stops with it too."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from flowplan.server.app import create_app
from flowplan.server.context import PeriodicJob, ServerContext

from conftest import pipeline, wait_for


def test_periodic_jobs_run_while_the_app_lives_and_survive_a_failing_tick(workspace, caplog):
    context = ServerContext.load(workspace(pipeline("ci")), {})
    assert [job.name for job in context.jobs] == ["approval timeouts"]
    ticks: list[float] = []
    failed = threading.Event()

    def flaky() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 2:
            failed.set()
            raise RuntimeError("one bad tick")

    context.jobs.append(PeriodicJob("flaky", 0.05, flaky))
    with TestClient(create_app(context)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        wait_for(lambda: len(ticks) >= 4, what="four ticks")
    assert failed.is_set() and "periodic job 'flaky' failed" in caplog.text
    stopped = len(ticks)
    time.sleep(0.2)
    assert len(ticks) == stopped                   # stopped with the app
    assert context.launcher.running() == []
    context.store.close()


def test_app_state_holds_the_context_for_routers(workspace):
    context = ServerContext.load(workspace(pipeline("ci")), {})
    app = create_app(context)
    assert app.state.context is context
    assert context.server_settings() == {"host": "127.0.0.1", "port": 8080,
                                         "url": "http://127.0.0.1:8080"}
    context.store.close()
