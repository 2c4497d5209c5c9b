"""The poll of the store for cancel (the service's RunWatch, for all its drives) meets a
database that cannot answer for a moment (a PostgreSQL server restarting cuts the read in
flight): it asks again at the next poll instead of failing the run. (With real servers:
test_celery_faults_pg.py.)"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from conftest import command, log_text, pipeline, stage, task, tasks_of
from flowplan.executor.status import Status


def test_a_failed_poll_of_the_store_is_asked_again_and_the_run_goes_on(service, monkeypatch):
    polls: list[bool] = []
    real = service.store.run_statuses

    def cut_short(run_ids):
        polls.append(True)
        if len(polls) <= 3:
            raise OperationalError("SELECT runs.status", {},
                                   Exception("server closed the connection unexpectedly"))
        return real(run_ids)

    monkeypatch.setattr(service.store, "run_statuses", cut_short)
    definition = pipeline({"a": stage({"t": task(("s", command("sleep 1; echo done")))})})

    outcome = service.start("app", definition)

    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert len(polls) > 3, "the stage loop polled fewer times than the failures it was given"
    assert log_text(service, "app#1") == ["done"]
    assert tasks_of(service, "app#1")["t"].status == Status.SUCCEEDED
