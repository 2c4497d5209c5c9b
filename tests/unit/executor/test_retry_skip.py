"""retry, skip and resume: what they re-run, what they keep, and what they refuse."""

from __future__ import annotations

import pytest

from conftest import approval, command, log_text, pipeline, stage, steps_of, task, tasks_of

from flowplan.executor.errors import NothingToContinue, RunNotFound
from flowplan.executor.status import Status


def flaky(tmp_path) -> tuple[dict, object]:
    """build succeeds once; test fails until the file `fixed` exists; deploy follows."""
    fixed = tmp_path / "fixed"
    builds = tmp_path / "builds"
    definition = pipeline({
        "ci": stage({"build": task(("s", command(f"echo b >> {builds}"))),
                     "test": task(("s", command(f"test -e {fixed}")))}),
        "cd": stage({"deploy": task(("s", command("echo deployed")))}),
    })
    return definition, (fixed, builds)


def test_retry_of_a_succeeded_run_is_refused(service):
    service.start("app", pipeline({"s": stage({"t": task(("s", command("true")))})}))
    with pytest.raises(NothingToContinue, match="app#1 succeeded: there is nothing to retry"):
        service.retry("app#1")


def test_retry_reruns_failed_tasks_and_keeps_what_succeeded(service, tmp_path):
    definition, (fixed, builds) = flaky(tmp_path)
    assert service.start("app", definition).status == Status.FAILED
    assert tasks_of(service, "app#1")["deploy"].skip_reason == "upstream"
    fixed.touch()
    outcome = service.retry("app#1")
    assert outcome.status == Status.SUCCEEDED
    assert builds.read_text() == "b\n"                      # build was not run again
    tasks = tasks_of(service, "app#1")
    assert (tasks["test"].attempt, tasks["build"].attempt) == (2, 1)
    assert log_text(service, "app#1", task="deploy") == ["deployed"]
    assert service.get("app#1").status == "succeeded"


def test_retry_of_one_task_by_name(service, tmp_path):
    definition, (fixed, _builds) = flaky(tmp_path)
    service.start("app", definition)
    with pytest.raises(RunNotFound, match="has no task 'nope'"):
        service.retry("app#1", task="nope")
    fixed.touch()
    assert service.retry("app#1", task="ci/test").status == Status.SUCCEEDED


def test_retry_of_a_rejected_manual_stage_asks_again(service):
    definition = pipeline({"deploy": stage({"d": task(("s", command("true")))},
                                           trigger="manual")})
    service.start("app", definition)
    service.reject("app#1", "bob")
    assert service.retry("app#1").status == Status.WAITING
    assert service.approve("app#1", "bob").status == Status.SUCCEEDED


def test_skip_a_failed_task_lets_the_run_go_on(service, tmp_path):
    definition, _paths = flaky(tmp_path)
    service.start("app", definition)
    outcome = service.skip("app#1", "test", user="alice")
    assert outcome.status == Status.SUCCEEDED
    skipped = tasks_of(service, "app#1")["test"]
    assert (skipped.status, skipped.skip_reason, skipped.error) == ("skipped", "user",
                                                                    "skipped by alice")
    assert log_text(service, "app#1", task="deploy") == ["deployed"]


def test_skip_a_waiting_approval(service):

    definition = pipeline({"s": stage({"gate": task(("ok", approval(approvers=["alice"])))}),
                           "after": stage({"a": task(("s", command("echo after")))})})
    service.start("app", definition)
    assert service.skip("app#1", "gate").status == Status.SUCCEEDED
    assert steps_of(service, "app#1")[("gate", "ok")].status == "skipped"


def test_skip_of_a_succeeded_task_is_refused(service, tmp_path):
    definition, _paths = flaky(tmp_path)
    service.start("app", definition)
    with pytest.raises(NothingToContinue, match="task ci/build of app#1 succeeded"):
        service.skip("app#1", "build")


def test_resume_refuses_a_run_that_was_not_interrupted(service, tmp_path):
    definition, _paths = flaky(tmp_path)
    service.start("app", definition)
    with pytest.raises(NothingToContinue, match="not interrupted: retry it"):
        service.resume("app#1")


def test_unknown_run_is_reported_with_the_latest(service):
    service.start("app", pipeline({"s": stage({"t": task(("s", command("true")))})}))
    with pytest.raises(RunNotFound, match=r"no run app#7 \(latest is app#1\)"):
        service.get("app#7")
