"""Per-host deploy records in the store and the DeployLedger a deploy step reads them through:
planning keeps what a step run has, errors are masked, a retried step finds the newest record of
each host, resumes are counted per step run, and an interrupted run leaves no host `running`."""

from __future__ import annotations

import pytest

from flowplan.executor.run.deploys import DeployLedger
from flowplan.store import StepPlan, Store, TaskPlan

TASKS = (TaskPlan("deploy", 0, "hosts", 0, (StepPlan("ship", "host_deploy", 0),)),)


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def new_run(store: Store, **kwargs):
    return store.create_run("app", trigger="manual", user="alice", definition={"stages": {}},
                            tasks=TASKS, **kwargs)


def ledger_of(store: Store, run, step_run_id: int | None = None) -> DeployLedger:
    step = step_run_id or store.step_runs(run.id)[0].id
    return DeployLedger(store, run.id, step, "deploy", "hosts", "ship")


def test_planning_again_keeps_the_rows_a_step_run_has(store):
    run = new_run(store)
    ledger = ledger_of(store, run)
    ledger.plan([("web1", 1, "queued", {"address": "10.0.0.1:22"}), ("web2", 2, "queued", None)])
    ledger.started("web1")
    ledger.finished("web1", "succeeded", exit_code=0, detail={"release": "/srv/r/abc"})
    rows = ledger.plan([("web1", 1, "queued", None), ("web2", 2, "queued", None),
                        ("web3", 2, "queued", None)])
    assert [(h, r.batch, r.status) for h, r in rows.items()] == [
        ("web1", 1, "succeeded"), ("web2", 2, "queued"), ("web3", 2, "queued")]
    assert rows["web1"].detail == {"release": "/srv/r/abc"}
    assert rows["web1"].seconds is not None and rows["web2"].seconds is None


def test_a_status_the_records_do_not_know_is_refused(store):
    ledger = ledger_of(store, new_run(store))
    with pytest.raises(ValueError, match="not 'done'"):
        ledger.plan([("web1", 1, "done", None)])
    with pytest.raises(ValueError):
        store.update_deploy_host(ledger.step_run_id, "web1", colour="blue")


def test_errors_are_recorded_with_the_store_s_sensitive_values_masked(store):
    ledger = ledger_of(store, new_run(store))
    ledger.plan([("web1", 1, "queued", None)])
    store.mask_sensitive(["hunter2-token"])
    ledger.finished("web1", "failed", exit_code=3, error="curl -H hunter2-token refused")
    assert "hunter2-token" not in ledger.mine()["web1"].error


def test_a_retried_step_finds_the_newest_record_of_each_host_across_attempts(store):
    run = new_run(store)
    first = ledger_of(store, run)
    first.plan([("web1", 1, "succeeded", None), ("web2", 1, "failed", None)])
    task = store.task_runs(run.id)[0]
    ids = store.start_task_attempt(task.id, 2, [StepPlan("ship", "host_deploy", 0)])
    second = ledger_of(store, run, ids["ship"])
    assert {h: r.status for h, r in second.earlier().items()} == {"web1": "succeeded",
                                                                   "web2": "failed"}
    assert second.mine() == {}
    second.plan([("web1", 1, "skipped", None), ("web2", 1, "succeeded", None)])
    assert {h: (r.status, r.step_run_id) for h, r in second.earlier().items()} == {
        "web1": ("skipped", ids["ship"]), "web2": ("succeeded", ids["ship"])}


def test_resumes_count_this_step_run_s_resume_decisions_only(store):
    run = new_run(store)
    ledger = ledger_of(store, run)
    assert ledger.resumes() == 0
    task = store.task_runs(run.id)[0]
    other = store.start_task_attempt(task.id, 2, [StepPlan("ship", "host_deploy", 0)])["ship"]
    for step_run_id, decision in ((ledger.step_run_id, "resume"), (ledger.step_run_id, "resume"),
                                  (None, "approve"), (other, "resume")):
        store.add_approval(run.id, stage="deploy", task="hosts", step="ship",
                           step_run_id=step_run_id, user="ci", decision=decision)
    assert ledger.resumes() == 2


def test_an_interrupted_run_leaves_no_host_running(store):
    run = new_run(store, pid=5, host="h", status="running")
    ledger = ledger_of(store, run)
    ledger.plan([("web1", 1, "queued", None), ("web2", 1, "queued", None),
                 ("web3", 2, "queued", None)])
    ledger.started("web1")
    ledger.started("web2")
    ledger.finished("web2", "succeeded", exit_code=0)
    store.interrupt_run(run.id, "the process driving the run (pid 5) is gone")
    rows = ledger.mine()
    assert [(h, r.status) for h, r in rows.items()] == [
        ("web1", "failed"), ("web2", "succeeded"), ("web3", "queued")]
    assert rows["web1"].error == "the process driving the run (pid 5) is gone"
    assert rows["web1"].finished_at is not None
