"""The celery executor end to end on one machine: a real redis-server, real `flowplan worker`
processes on two queues (each with its own config directory, so its own workspaces), a SQLite
store on local disk that the driver (this process) and the workers share."""

from __future__ import annotations

import os
import signal
import time

import pytest

from celery_cluster import CeleryCluster, in_background, wait_for
from conftest import (Recorder, alive, command, log_text, one_step, pipeline, stage, steps_of,
                      task, tasks_of)
from tests.support.ports import free_port

from flowplan.executor import events
from flowplan.executor.status import Status
from flowplan.store import Store

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from redis_server import redis_problem, start_redis

    problem = redis_problem()
    if problem is not None:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("celery")
    with start_redis(root) as redis:
        made = CeleryCluster(root, redis, f"sqlite:///{root / 'flowplan.db'}")
        Store.open(made.store_url, base_dir=root).close()     # created once, before the workers
        made.start_worker("builder", "build")
        made.start_worker("general", "default")
        yield made
        made.stop()


@pytest.fixture
def service(cluster):
    made = cluster.service()
    yield made
    made.store.close()


def _step_pid_stored(service, pipeline_name: str) -> int:
    """Wait until the running step's process group is in the store (the log writer stores it
    within its flush interval): a worker killed before that leaves the driver nothing to stop."""
    def stored():
        run = service.list_runs(pipeline_name)[0]
        step = steps_of(service, run.ref)[("t", "s")]
        return step.pid if step.status == Status.RUNNING else None
    return wait_for(stored, what="the running step's pid in the store")


def test_each_task_runs_on_a_worker_of_the_queue_its_runs_on_names(service, cluster):
    definition = pipeline({"main": stage({
        "compile": task(("s", command('echo "built in $PWD"')), runs_on="build"),
        "lint": task(("s", command('echo "linted in $PWD"'))),
    }), "ship": stage({
        "pack": task(("s", command("echo packed")), runs_on="build"),
    })})

    recorder = Recorder()
    outcome = service.start("routed", definition, on_event=recorder)

    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert sorted(e.task for e in recorder.of(events.TaskStarted)) == ["compile", "lint", "pack"]
    assert sorted((e.task, e.status) for e in recorder.of(events.TaskFinished)) == [
        ("compile", Status.SUCCEEDED), ("lint", Status.SUCCEEDED), ("pack", Status.SUCCEEDED)]
    built = log_text(service, outcome.run, task="compile")
    linted = log_text(service, outcome.run, task="lint")
    assert any(f"built in {cluster.root / 'builder'}" in line for line in built), built
    assert any(f"linted in {cluster.root / 'general'}" in line for line in linted), linted
    assert {name: t.status for name, t in tasks_of(service, outcome.run).items()} == {
        "compile": Status.SUCCEEDED, "lint": Status.SUCCEEDED, "pack": Status.SUCCEEDED}


def test_a_failing_step_on_a_worker_fails_the_run_and_its_later_stage_is_skipped(service):
    definition = pipeline({"main": stage({"t": task(("s", command("echo oops; exit 3")))}),
                           "later": stage({"u": task(("s", command("true")))})})

    outcome = service.start("failing", definition)

    assert outcome.status == Status.FAILED
    steps = steps_of(service, outcome.run)
    assert steps[("t", "s")].exit_code == 3
    assert "oops" in log_text(service, outcome.run, task="t")
    assert tasks_of(service, outcome.run)["u"].status == Status.SKIPPED


def test_logs_reach_the_store_while_the_step_still_runs_on_the_worker(service):
    definition = one_step("echo first; sleep 30; echo never")
    thread, outcome = in_background(lambda: service.start("streaming", definition))
    run = wait_for(lambda: next(iter(service.list_runs("streaming")), None), what="the run")

    wait_for(lambda: "first" in log_text(service, run.ref), what="the first line in the store")
    service.cancel(run.ref, user="alice")
    thread.join(30)

    assert outcome and outcome[0].status == Status.CANCELED
    assert "never" not in log_text(service, run.ref)


def test_cancel_stops_the_step_process_group_on_the_worker(service, tmp_path):
    marker = tmp_path / "child.pid"
    definition = one_step(f"sleep 60 & echo $! > {marker}; wait", runs_on="build")
    thread, outcome = in_background(lambda: service.start("canceled", definition))
    run = wait_for(lambda: next(iter(service.list_runs("canceled")), None), what="the run")
    wait_for(lambda: marker.exists() and marker.read_text().strip(), what="the step's child")
    child = int(marker.read_text())

    started = time.monotonic()
    service.cancel(run.ref, user="alice")
    thread.join(30)

    assert outcome and outcome[0].status == Status.CANCELED
    assert time.monotonic() - started < 10
    wait_for(lambda: not alive(child), 10, "the step's child to be stopped")
    assert steps_of(service, run.ref)[("t", "s")].status == Status.CANCELED


def test_cancel_closes_a_task_no_worker_took_yet(service):
    definition = one_step("echo never", runs_on="nobody-serves-this")
    thread, outcome = in_background(lambda: service.start("untaken", definition))
    run = wait_for(lambda: next(iter(service.list_runs("untaken")), None), what="the run")
    wait_for(lambda: service.get(run.ref).status == Status.RUNNING, what="the drive")

    service.cancel(run.ref, user="alice")
    thread.join(30)

    assert outcome and outcome[0].status == Status.CANCELED
    assert tasks_of(service, run.ref)["t"].status == Status.CANCELED
    assert log_text(service, run.ref) == []


def test_a_worker_killed_mid_step_fails_its_task_as_lost(cluster, tmp_path):
    service = cluster.service()
    doomed = cluster.start_worker("doomed", "doomed", concurrency=1)
    marker = tmp_path / "step.pid"
    definition = one_step(f"echo $$ > {marker}; sleep 60", runs_on="doomed")
    thread, outcome = in_background(lambda: service.start("lost", definition))
    wait_for(lambda: marker.exists() and marker.read_text().strip(), what="the step to start")
    step_pid = int(marker.read_text())
    _step_pid_stored(service, "lost")

    os.kill(doomed.pid, signal.SIGKILL)
    thread.join(30)

    assert outcome and outcome[0].status == Status.FAILED
    lost = tasks_of(service, outcome[0].run)["t"]
    assert lost.status == Status.FAILED
    assert "worker lost: no heartbeat" in lost.error
    wait_for(lambda: not alive(step_pid), 10, "the lost step's process to be killed")
    service.store.close()


def test_a_task_whose_worker_was_lost_is_sent_again_while_its_retries_allow(cluster, tmp_path):
    service = cluster.service()
    doomed = cluster.start_worker("doomed2", "fragile", concurrency=1)
    marker = tmp_path / "first"
    script = f"if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi; echo second attempt"
    definition = one_step(script, runs_on="fragile", retries=1)
    thread, outcome = in_background(lambda: service.start("resent", definition))
    wait_for(marker.exists, what="the first attempt to start")
    first_pid = _step_pid_stored(service, "resent")

    os.kill(doomed.pid, signal.SIGKILL)
    cluster.start_worker("spare", "fragile", concurrency=1)
    thread.join(60)

    assert outcome and outcome[0].status == Status.SUCCEEDED, outcome[0].error
    record = tasks_of(service, outcome[0].run)["t"]
    assert record.attempt == 2
    assert "second attempt" in log_text(service, outcome[0].run)
    wait_for(lambda: not alive(first_pid), 10, "the lost attempt's process to be killed")
    service.store.close()


def test_attempts_failed_on_the_worker_and_lost_share_the_retries(cluster, tmp_path):
    service = cluster.service()
    doomed = cluster.start_worker("doomed3", "flaky", concurrency=1)
    first, second = tmp_path / "first", tmp_path / "second"
    script = (f"if [ ! -e {first} ]; then touch {first}; exit 1; fi; "
              f"if [ ! -e {second} ]; then touch {second}; sleep 60; fi; echo third attempt")
    definition = one_step(script, runs_on="flaky", retries=1)
    thread, outcome = in_background(lambda: service.start("budget", definition))
    wait_for(second.exists, what="the second attempt to start")
    second_pid = _step_pid_stored(service, "budget")

    os.kill(doomed.pid, signal.SIGKILL)
    spare = cluster.start_worker("spare2", "flaky", concurrency=1)
    thread.join(60)

    assert outcome and outcome[0].status == Status.FAILED
    record = tasks_of(service, outcome[0].run)["t"]
    assert record.attempt == 2 and "worker lost" in record.error
    assert "third attempt" not in log_text(service, outcome[0].run)
    wait_for(lambda: not alive(second_pid), 10, "the lost attempt's process to be killed")
    spare.terminate()
    service.store.close()


def test_a_worker_that_cannot_run_a_message_answers_failed_with_the_reason(service, cluster):
    import json

    from flowplan.executor.distributed.queue import TaskMessage, done_key, redis_client
    from flowplan.executor.distributed.worker import Worker

    run = service.create("broken", one_step("true"))
    worker = Worker(service.store, service.settings)
    message = TaskMessage(run.id, 999_999, "main", "t", "broken-token", 0, 0.2, 1.5)

    assert worker.run(message.payload()) == "failed"

    answer = json.loads(redis_client(cluster.broker).lpop(done_key("broken-token")))
    assert answer["status"] == "failed"
    assert answer["error"].startswith("flowplan error on the worker (")


def test_step_outputs_reach_later_tasks_on_the_workers(service):
    """A later stage's task, and a task that needs another of its own stage, read the outputs
    the earlier ones recorded, though the stage was prepared on the worker before they
    finished (`slow` keeps it in use there)."""
    def echo(word):
        return command(f'echo "{word} $VERSION"', env={
            "VERSION": {"$deferred": "${steps.make.s.VERSION}", "sensitive": False}})

    definition = pipeline({"build": stage({
        "slow": task(("s", command("sleep 1"))),
        "make": task(("s", command('echo "VERSION=1.2.3" >> "$FLOWPLAN_OUTPUT"'))),
        "check": task(("s", echo("checked")), needs=["make"]),
    }), "ship": stage({
        "pack": task(("s", echo("packed")), runs_on="build"),
    })})

    outcome = service.start("outputs", definition)

    assert outcome.status == Status.SUCCEEDED, (outcome.error, log_text(service, outcome.run))
    assert log_text(service, outcome.run, task="check") == ["checked 1.2.3"]
    assert log_text(service, outcome.run, task="pack") == ["packed 1.2.3"]


def _message(service, run, task_name: str, token: str):
    from flowplan.executor.distributed.queue import TaskMessage

    record = tasks_of(service, run.ref)[task_name]
    return TaskMessage(run.id, record.id, "main", task_name, token, 0, 0.2, 1.5).payload()


def test_a_stage_prepared_on_a_worker_serves_its_next_task_then_is_closed(service,
                                                                          monkeypatch):
    from flowplan.executor.distributed import worker as worker_module

    monkeypatch.setattr(worker_module, "LINGER_SECONDS", 0.3)
    run = service.create("linger", pipeline({"main": stage({
        "a": task(("s", command("echo a"))), "b": task(("s", command("echo b")))})}))
    worker = worker_module.Worker(service.store, service.settings)

    assert worker.run(_message(service, run, "a", "linger-a")) == "succeeded"
    prepared = worker._runs[(run.id, "main")]
    assert worker.run(_message(service, run, "b", "linger-b")) == "succeeded"
    assert worker._runs[(run.id, "main")] is prepared          # prepared once for both

    wait_for(lambda: (run.id, "main") not in worker._runs, 10, "the lingering run closed")
    assert log_text(service, run.ref, task="b") == ["b"]


def test_a_run_stopped_while_its_stage_lingers_is_prepared_afresh_for_its_next_task(service):
    from flowplan.executor.distributed.worker import Worker

    run = service.create("stopped", pipeline({"main": stage({
        "a": task(("s", command("echo a"))), "b": task(("s", command("echo b")))})}))
    worker = Worker(service.store, service.settings)
    assert worker.run(_message(service, run, "a", "stopped-a")) == "succeeded"
    prepared = worker._runs[(run.id, "main")]

    service.store.update_run(run.id, status="interrupted")     # its driver died ...
    wait_for(lambda: prepared.drive.cancel.is_set(), 10, "the worker to see it")
    service.store.update_run(run.id, status="running")         # ... and it was resumed

    assert worker.run(_message(service, run, "b", "stopped-b")) == "succeeded"
    assert worker._runs[(run.id, "main")] is not prepared
    assert log_text(service, run.ref, task="b") == ["b"]


def test_an_unreachable_broker_at_dispatch_fails_the_run_which_can_be_retried_later(cluster):
    port = free_port()
    service = cluster.service(broker=f"redis://:hunter2@127.0.0.1:{port}/0")

    started = time.monotonic()
    outcome = service.start("no-broker", one_step("echo never"))

    assert outcome.status == Status.FAILED
    assert time.monotonic() - started < 20
    run = service.get(outcome.run)
    assert run.status == Status.FAILED and run.finished_at is not None
    error = tasks_of(service, outcome.run)["t"].error
    assert f"the broker redis://127.0.0.1:{port}/0 cannot be reached" in error
    assert "flowplan retry" in error
    assert "hunter2" not in error and "hunter2" not in (run.error or "")
    service.store.close()

    back = cluster.service()            # the broker is back: the recorded run is retried
    retried = back.retry(outcome.run)
    assert retried.status == Status.SUCCEEDED, retried.error
    assert log_text(back, outcome.run) == ["never"]
    back.store.close()


def test_a_broker_restart_while_a_task_runs_loses_nothing(service, cluster):
    """Last in the module: the other tests' workers reconnect, but need not."""
    definition = one_step("echo before; sleep 4; echo after", runs_on="build")
    thread, outcome = in_background(lambda: service.start("outage", definition))
    run = wait_for(lambda: next(iter(service.list_runs("outage")), None), what="the run")
    wait_for(lambda: "before" in log_text(service, run.ref), what="the step to start")

    cluster.redis.stop()
    time.sleep(1.0)
    cluster.redis.start()
    thread.join(60)

    assert outcome and outcome[0].status == Status.SUCCEEDED, outcome[0].error
    assert log_text(service, run.ref) == ["before", "after"]
    assert tasks_of(service, run.ref)["t"].attempt == 1
