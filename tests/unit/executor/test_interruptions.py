"""Ctrl-C, or SIGTERM where the CLI turns it into KeyboardInterrupt("SIGTERM"), cancels the run
wherever it lands in the drive, and records why."""

from __future__ import annotations

from conftest import command, pipeline, stage, task, tasks_of

from flowplan.executor.run.scheduler import Drive
from flowplan.executor.status import Status


def test_an_interrupt_before_the_stages_cancels_the_run_and_its_queued_tasks(service,
                                                                            monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(Drive, "_prepare", interrupted)
    definition = pipeline({"a": stage({"t": task(("s", command("echo never")))}),
                           "b": stage({"u": task(("s", command("echo never")))})})
    outcome = service.start("app", definition)
    assert (outcome.status, outcome.error) == (Status.CANCELED, "canceled: interrupted (SIGTERM)")
    run = service.get("app#1")
    assert (run.status, run.error, run.pid) == ("canceled", "canceled: interrupted (SIGTERM)",
                                                None)
    assert {name: t.status for name, t in tasks_of(service, "app#1").items()} == {
        "t": "canceled", "u": "canceled"}
    assert all(s.status == "canceled" for s in service.store.step_runs(run.id))


def test_a_plain_ctrl_c_is_named_as_such(service, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Drive, "_prepare", interrupted)
    outcome = service.start("app", pipeline({"a": stage({"t": task(("s", command("true")))})}))
    assert outcome.error == "canceled: interrupted (Ctrl-C)"
