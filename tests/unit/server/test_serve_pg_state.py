"""`flowplan serve` with its state (and store) in PostgreSQL, a real server, a database per test.

The server notices an apply made while it runs through the state backend's `stamp` (one query of
the row's serial and lineage), not a state file: a webhook applied meanwhile takes the next
delivery, a pipeline applied again runs its new definition at the next start, and a due
schedule starts its run. A database that does not answer makes the stamp a key of its own, not a
failed delivery, and the webhooks last read stay in use until it answers again.
"""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import pipeline, wait_for
from postgres import postgres_for_tests, postgres_problem
from test_hooks import HOOKS, push_payload, signed
from tests.support.ports import free_port

from flowplan import engine
from flowplan.server.app import create_app
from flowplan.server.context import HookTargets, ServerContext, schedule_starter
from flowplan.server.launcher import sources_key
from flowplan.server.schedules import Scheduler
from flowplan.state import StateError
from flowplan.state.pg import PgStateBackend

pytestmark = pytest.mark.skipif(postgres_problem() is not None,
                                reason=postgres_problem() or "")

PG_SETTINGS = """\
flowplan {
  state {
    backend = "pg"
    url     = env("FLOWPLAN_STATE_URL")
  }
  store = env("FLOWPLAN_TEST_STORE_URL")
}
"""


@pytest.fixture(scope="module")
def server():
    with postgres_for_tests("flowplan-serve-pg-") as pg:
        yield pg


@pytest.fixture
def environ(server) -> dict[str, str]:
    """A fresh state database and a fresh store database, named in the environment."""
    name = uuid.uuid4().hex[:12]
    return {"FLOWPLAN_STATE_URL": server.create_database(f"state_{name}"),
            "FLOWPLAN_TEST_STORE_URL": server.create_database(f"store_{name}")}


@pytest.fixture
def directory(tmp_path) -> Path:
    made = tmp_path / "config"
    made.mkdir()
    return made


def apply_pg(directory: Path, hcl: str, environ: dict[str, str]) -> None:
    """Write `hcl` after the pg settings as main.hcl and apply it, as another process would."""
    (directory / "main.hcl").write_text(PG_SETTINGS + textwrap.dedent(hcl), encoding="utf-8")
    workspace = engine.load(directory, environ=dict(environ))
    try:
        engine.apply(workspace)
    finally:
        workspace.backend.close()


@pytest.fixture
def serve(directory, environ):
    """serve(HCL) -> (context, client): HCL applied to pg, then the server's app started."""
    opened = []

    def start(hcl: str):
        apply_pg(directory, hcl, environ)
        context = ServerContext.load(directory, environ)
        client = TestClient(create_app(context))
        client.__enter__()
        opened.append((context, client))
        return context, client

    yield start
    for context, client in opened:
        client.__exit__(None, None, None)
        context.close()


def test_the_server_reads_its_state_from_the_pg_backend_not_a_file(serve, directory):
    context, _ = serve(pipeline("ci"))
    assert isinstance(context.hooks.state, PgStateBackend)
    assert context.hooks.state is context.launcher._state_backend(), "one backend, one pool"
    assert not (directory / ".flowplan" / "state.json").exists()


def test_webhook_applied_while_the_server_runs_takes_the_next_delivery(serve, directory,
                                                                      environ):
    context, client = serve(pipeline("ci"))
    body, headers = signed(push_payload())
    assert client.post("/hooks/push", content=body, headers=headers).status_code == 404
    apply_pg(directory, pipeline("ci") + HOOKS, environ)
    body, headers = signed(push_payload())
    answer = client.post("/hooks/push", content=body, headers=headers)
    assert answer.json() == {"status": "accepted", "run": "ci#1"}
    run = wait_for(lambda: (r := context.service.get("ci#1")).status == "succeeded" and r,
                   what="the delivered run")
    assert run.trigger == "webhook"


def test_webhook_removed_by_an_apply_is_refused_at_the_next_delivery(serve, directory, environ):
    context, client = serve(pipeline("ci") + HOOKS)
    body, headers = signed(push_payload())
    assert client.post("/hooks/push", content=body, headers=headers).json()["run"] == "ci#1"
    apply_pg(directory, pipeline("ci"), environ)
    body, headers = signed(push_payload())
    assert client.post("/hooks/push", content=body, headers=headers).status_code == 404


def test_pipeline_applied_again_runs_its_new_definition_at_the_next_start(serve, directory,
                                                                         environ):
    context, _ = serve(pipeline("ci", "echo one"))
    first = context.launcher.start("ci", trigger="webhook", user=None)
    again = context.launcher.start("ci", trigger="webhook", user=None)
    apply_pg(directory, pipeline("ci", "echo two"), environ)
    third = context.launcher.start("ci", trigger="webhook", user=None)
    steps = [context.service.get(r.ref).definition["stages"]["s"]["tasks"]["t"]["steps"]["x"]
             ["run"] for r in (first, again, third)]
    assert steps == ["echo one", "echo one", "echo two"]
    for ref in (first.ref, again.ref, third.ref):
        wait_for(lambda: context.service.get(ref).status == "succeeded", what=ref)


def test_an_apply_changes_the_sources_key_and_nothing_else_does(serve, directory, environ):
    context, _ = serve(pipeline("ci"))
    state = context.hooks.state
    before = sources_key(directory, state)
    assert sources_key(directory, state) == before, "reading changes nothing"
    apply_pg(directory, pipeline("ci", "echo changed"), environ)
    assert sources_key(directory, state) != before


def test_a_due_schedule_starts_one_run_with_the_state_and_store_in_pg(directory, environ):
    apply_pg(directory, pipeline("ci", run="echo scheduled") + """
schedule "often" {
  pipeline  = pipeline.ci
  cron      = "*/5 * * * *"
  variables = {}
}
""", environ)
    # The context without the app: the app's own schedule job would tick at the real time.
    context = ServerContext.load(directory, environ)
    try:
        scheduler = Scheduler(context.store, schedule_starter(context.launcher))
        first = datetime(2026, 11, 29, 12, 1, tzinfo=timezone.utc)
        (seen,) = scheduler.tick(first)
        assert seen.run is None
        (outcome,) = scheduler.tick(first + timedelta(hours=3))
        assert outcome.run == "ci#1"
        run = wait_for(lambda: (r := context.service.get("ci#1")).status == "succeeded" and r,
                       what="the scheduled run")
        assert (run.trigger, run.user) == ("schedule", "schedule:often")
    finally:
        context.close()


def test_a_database_that_does_not_answer_gives_a_key_of_its_own_not_an_error(directory):
    (directory / "main.hcl").write_text(pipeline("ci"), encoding="utf-8")
    down = PgStateBackend(f"postgresql://flowplan:hunter2@127.0.0.1:{free_port()}/flowplan")
    key = sources_key(directory, down)
    assert ("unreadable", down.path) in key
    assert "hunter2" not in repr(key)


class Unreachable:
    """A state backend whose database stops answering when `down` is set."""

    def __init__(self, backend: PgStateBackend) -> None:
        self.backend, self.path, self.down = backend, backend.path, False

    def stamp(self) -> tuple:
        if self.down:
            raise StateError(f"cannot read the state in {self.path}: connection refused")
        return self.backend.stamp()

    def read(self):
        if self.down:
            raise StateError(f"cannot read the state in {self.path}: connection refused")
        return self.backend.read()


def test_webhooks_last_read_stay_while_the_database_does_not_answer(directory, environ,
                                                                   caplog):
    apply_pg(directory, pipeline("ci") + HOOKS, environ)
    backend = PgStateBackend(environ["FLOWPLAN_STATE_URL"])
    state = Unreachable(backend)
    try:
        hooks = HookTargets(directory, state, environ)
        assert hooks.names() == ["push"]
        state.down = True
        assert hooks.names() == ["push"], "an outage does not make the webhook unknown"
        assert "webhooks: the state cannot be read" in caplog.text
        state.down = False
        apply_pg(directory, pipeline("ci"), environ)
        assert hooks.names() == [], "read again once the database answers"
    finally:
        backend.close()
