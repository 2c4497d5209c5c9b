"""The store masks every sensitive value it was told about in the free text it records: errors
of runs, tasks and steps, step outputs, commit messages and approval comments, whichever call
records them."""

from __future__ import annotations

import base64

import pytest

from flowplan.store import StepPlan, Store, TaskPlan

SECRET = "hunter2-very-secret"
TASKS = (TaskPlan("build", 0, "compile", 0, (StepPlan("one", "command", 0),)),)


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        opened.mask_sensitive([SECRET])
        yield opened


def new_run(store: Store):
    return store.create_run("app", trigger="manual", user="alice", definition={"stages": {}},
                            tasks=TASKS)


def test_run_errors_and_commit_messages_are_masked_by_every_call_that_sets_them(store):
    run = new_run(store)
    store.update_run(run.id, error=f"bad token {SECRET}", commit_message=f"adds {SECRET}")
    assert store.get_run(run.id).error == "bad token ***"
    assert store.get_run(run.id).commit_message == "adds ***"
    store.claim_run(run.id, 1, "h", lambda record: False, error=f"claimed {SECRET}")
    assert store.get_run(run.id).error == "claimed ***"
    store.release_run(run.id, 1, error=f"released {SECRET}")
    assert store.get_run(run.id).error == "released ***"


def test_task_and_step_errors_and_outputs_are_masked(store):
    run = new_run(store)
    task = store.task_runs(run.id)[0]
    step = store.step_runs(run.id)[0]
    store.record(tasks=[(task.id, {"error": f"when: got str {SECRET!r}"})],
                 steps=[(step.id, {"error": f"timeout: {SECRET!r} is not a duration",
                                   "outputs": {"TOKEN": SECRET}})])
    assert store.task_runs(run.id)[0].error == "when: got str '***'"
    recorded = store.step_runs(run.id)[0]
    assert recorded.error == "timeout: '***' is not a duration"
    assert recorded.outputs == {"TOKEN": "***"}
    store.update_task(task.id, error=SECRET)
    store.update_step(step.id, error=SECRET)
    assert store.task_runs(run.id)[0].error == "***"
    assert store.step_runs(run.id)[0].error == "***"
    store.start_task_attempt(task.id, 2, [StepPlan("one", "command", 0)], error=SECRET)
    assert store.task_runs(run.id)[0].error == "***"
    store.interrupt_run(run.id, f"gone {SECRET}")
    assert store.get_run(run.id).error == f"gone ***"


def test_approval_comments_are_masked(store):
    run = new_run(store)
    recorded = store.add_approval(run.id, stage="build", user="alice", decision="approve",
                                  comment=f"the token is {SECRET}")
    assert recorded.comment == "the token is ***"
    assert store.approvals(run.id)[0].comment == "the token is ***"


def test_values_told_later_are_masked_from_then_on_with_their_encoded_forms(store):
    run = new_run(store)
    store.mask_sensitive(["second-secret-value"])
    encoded = base64.b64encode(SECRET.encode()).decode()
    store.update_run(run.id, error=f"a second-secret-value and {encoded}")
    assert store.get_run(run.id).error == "a *** and ***"
