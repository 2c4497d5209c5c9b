"""A refused continuation (retry, skip, resume, approve, reject) leaves the run exactly as it
was, and the right command afterwards works: the refusal comes before any change."""

from __future__ import annotations

import subprocess

import pytest

from conftest import approval, command, pipeline, stage, task

from flowplan import processes
from flowplan.executor.errors import RunBusy, RunServiceError
from flowplan.executor.status import Status
from flowplan.values import Sensitive

RIGHT = {"token": Sensitive("the-right-token")}
WRONG = {"token": Sensitive("another-token")}


def snapshot(service, ref: str = "app#1") -> tuple:
    """Everything a continuation could change."""
    run = service.get(ref)
    store = service.store
    return ((run.status, run.error, run.finished_at, run.options, run.pid),
            [(t.stage, t.task, t.status, t.error, t.skip_reason, t.attempt, t.finished_at)
             for t in store.task_runs(run.id)],
            [(s.task, s.step, s.attempt, s.status, s.error) for s in store.step_runs(run.id)],
            store.approvals(run.id))


@pytest.fixture
def failed(service, tmp_path):
    """app#1 failed at ci/test (which passes once `fixed` exists); cd/deploy skipped."""
    fixed = tmp_path / "fixed"
    definition = pipeline({
        "ci": stage({"test": task(("s", command(f"test -e {fixed}")))}),
        "cd": stage({"deploy": task(("s", command("echo deployed")))}),
    })
    assert service.start("app", definition, variables=RIGHT).status == Status.FAILED
    fixed.touch()
    return service


@pytest.fixture
def waiting(service):
    definition = pipeline({"gate": stage({"ok": task(("a", approval(approvers=["alice"])))}),
                           "after": stage({"t": task(("s", command("echo after")))})})
    assert service.start("app", definition, variables=RIGHT).status == Status.WAITING
    return service


@pytest.fixture
def interrupted(service):
    """app#1 whose process died before it ran anything."""
    definition = pipeline({"s": stage({"t": task(("s", command("echo done")))})})
    run = service.create("app", definition, variables=RIGHT)
    service.store.interrupt_run(run.id, "the process driving the run is gone")
    assert service.get("app#1").status == Status.INTERRUPTED
    return service


def test_refused_retry_changes_nothing_and_the_right_retry_works(failed):
    before = snapshot(failed)
    with pytest.raises(RunServiceError, match="value changed"):
        failed.retry("app#1", variables=WRONG)
    assert snapshot(failed) == before
    assert failed.retry("app#1", variables=RIGHT).status == Status.SUCCEEDED


def test_refused_skip_changes_nothing_and_the_right_skip_works(failed):
    before = snapshot(failed)
    with pytest.raises(RunServiceError, match="value changed"):
        failed.skip("app#1", "test", user="alice", variables=WRONG)
    assert snapshot(failed) == before
    assert failed.skip("app#1", "test", user="alice", variables=RIGHT).status == \
        Status.SUCCEEDED


def test_refused_resume_changes_nothing_and_the_right_resume_works(interrupted):
    before = snapshot(interrupted)
    with pytest.raises(RunServiceError, match="has no value now"):
        interrupted.resume("app#1")
    assert snapshot(interrupted) == before
    assert interrupted.get("app#1").status == Status.INTERRUPTED
    assert interrupted.resume("app#1", variables=RIGHT).status == Status.SUCCEEDED


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_refused_decision_changes_nothing_and_the_right_one_works(waiting, decision):
    before = snapshot(waiting)
    with pytest.raises(RunServiceError, match="value changed"):
        getattr(waiting, decision)("app#1", "alice", "ok", variables=WRONG)
    assert snapshot(waiting) == before
    outcome = getattr(waiting, decision)("app#1", "alice", "ok", variables=RIGHT)
    assert outcome.status == (Status.SUCCEEDED if decision == "approve" else Status.FAILED)


def test_retry_of_a_run_another_live_process_drives_is_refused_changing_nothing(failed):
    driver = subprocess.Popen(["sleep", "60"])
    try:
        run = failed.get("app#1")
        me = processes.identify(driver.pid)
        failed.store.update_run(run.id, status="running", pid=driver.pid,
                                pid_start_time=me.start_time, boot_id=me.boot_id)
        before = snapshot(failed)
        with pytest.raises(RunBusy, match=f"process {driver.pid}"):
            failed.retry("app#1", variables=RIGHT)
        assert snapshot(failed) == before
    finally:
        driver.kill()
        driver.wait()
    # its driver gone, the run is interrupted by the next command, and retried
    assert failed.retry("app#1", variables=RIGHT).status == Status.SUCCEEDED
