"""The app around the routers: periodic jobs run on threads while it lives (a failing tick is
logged and the job goes on), stop with it, and the launcher stops with it too; the schedules job
starts a due schedule's run through the launcher."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from flowplan.server.app import create_app
from flowplan.server.context import PeriodicJob, ServerContext, schedule_starter
from flowplan.server.schedules import Scheduler

from conftest import pipeline, wait_for


def test_periodic_jobs_run_while_the_app_lives_and_survive_a_failing_tick(workspace, caplog):
    context = ServerContext.load(workspace(pipeline("ci")), {})
    assert [job.name for job in context.jobs] == ["approval timeouts", "schedules"]
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
                                         "url": "http://127.0.0.1:8080",
                                         "max_upload_bytes": None}
    assert not hasattr(app.state, "worker_upload_limit")      # the worker API's default
    context.store.close()


def test_a_due_schedule_starts_one_run_through_the_launcher(workspace):
    from datetime import datetime, timedelta, timezone

    directory = workspace(pipeline("ci", run="echo scheduled") + """
schedule "often" {
  pipeline  = pipeline.ci
  cron      = "*/5 * * * *"
  variables = {}
}
""")
    context = ServerContext.load(directory, {})
    scheduler = Scheduler(context.store, schedule_starter(context.launcher))
    first = datetime(2026, 11, 29, 12, 1, tzinfo=timezone.utc)
    (seen,) = scheduler.tick(first)                       # first seen: nothing from the past
    assert (seen.run, seen.note) == (None, "first seen: runs from its next fire time on")
    (outcome,) = scheduler.tick(first + timedelta(hours=3))     # downtime: one run, not 36
    assert outcome.run == "ci#1"
    assert outcome.fired_for == datetime(2026, 11, 29, 15, 0, tzinfo=timezone.utc)
    run = wait_for(lambda: (r := context.service.get("ci#1")).status == "succeeded" and r,
                   what="the scheduled run")
    assert (run.trigger, run.user) == ("schedule", "schedule:often")
    assert [o.run for o in scheduler.tick(first + timedelta(hours=3, minutes=1))] == []
    assert [r.ref for r in context.service.list_runs("ci")] == ["ci#1"]
    context.close()
