"""Faults of the celery executor with a PostgreSQL store: real PostgreSQL and redis-server on
127.0.0.1, real `flowplan worker` processes on two queues (`build` and `default`), and the driver
either this process or a real `flowplan run`.

- the driver (`flowplan run`) killed with SIGKILL mid-run: the next flowplan command marks the run
  `interrupted`, the worker stops its task and records it `interrupted` (not `canceled`, nothing
  over the run's status), and `flowplan resume` finishes it;
- a worker killed with SIGKILL during a step: the task is sent again while its `retries` allow,
  else fails as lost;
- PostgreSQL restarted while tasks run on both queues: the run goes on, nothing half-written;
- Redis down at dispatch: the run fails with the broker named, recorded; retried once it is back.

(The same faults with a SQLite store are in test_celery_executor.py.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from celery_cluster import CeleryCluster, in_background, wait_for
from conftest import alive, log_text, one_step, pipeline, stage, steps_of, task, tasks_of
from flowplan.executor.status import Status
from flowplan.store import Store

pytestmark = pytest.mark.timeout(180)

FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.SKIPPED,
            Status.INTERRUPTED}


@pytest.fixture(scope="module")
def cluster():
    from postgres import postgres_problem, start_postgres
    from redis_server import redis_problem, start_redis

    problem = postgres_problem() or redis_problem()
    if problem is not None:
        pytest.skip(problem)
    root = Path(tempfile.mkdtemp(prefix="flowplan-celery-pg-"))   # not under tmp_path: see
    try:                                                          # tests/unit/store/conftest.py
        with start_postgres(root / "cluster") as postgres, start_redis(root) as redis:
            database = f"celery_faults_{os.getpid()}"
            postgres.create_database(database)
            made = CeleryCluster(root, redis, postgres.url_of(database), postgres)
            Store.open(made.store_url, base_dir=root).close()   # migrated once, before workers
            made.start_worker("builder", "build")
            made.start_worker("general", "default")
            yield made
            made.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def service(cluster):
    made = cluster.service()
    yield made
    made.store.close()


def _running_step_pid(service, pipeline_name: str, task_name: str = "t") -> int | None:
    runs = service.list_runs(pipeline_name)
    if not runs:
        return None
    for (task_, _step), step in steps_of(service, runs[0].ref).items():
        if task_ == task_name and step.status == Status.RUNNING and step.pid:
            return step.pid
    return None


def _assert_nothing_half_written(service, ref: str) -> None:
    """Every task and step of the run's latest attempts closed, none left running."""
    for name, record in tasks_of(service, ref).items():
        assert Status(record.status) in FINISHED, (name, record.status)
        assert record.finished_at is not None, name
    for key, step in steps_of(service, ref).items():
        assert Status(step.status) in FINISHED | {Status.QUEUED}, (key, step.status)


def test_the_driver_killed_mid_run_is_interrupted_then_resumed_on_the_workers(cluster,
                                                                              service):
    first, pid_file = cluster.root / "crash-first", cluster.root / "crash-pid"
    directory = cluster.config_dir("crash", f"""
pipeline "crashy" {{
  stage "work" {{
    task "long" {{
      runs_on = "build"
      step "s" {{
        type = "command"
        run  = "if [ -e {first} ]; then echo second; else touch {first}; echo $$ > {pid_file}; echo first; sleep 60; fi"
      }}
    }}
    task "short" {{
      step "s" {{
        type = "command"
        run  = "echo short"
      }}
    }}
  }}
}}
""")
    driver = subprocess.Popen([sys.executable, "-m", "flowplan.cli", "-C", str(directory),
                               "run", "crashy", "--from-config"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, env=cluster.environment())
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 60,
              "the long step to start on the build worker")
    step_pid = int(pid_file.read_text())
    wait_for(lambda: _running_step_pid(service, "crashy", "long"), what="its pid stored")

    driver.send_signal(signal.SIGKILL)
    driver.wait(10)
    assert service.get("crashy#1").status == Status.RUNNING   # nobody knows yet

    listed = cluster.flowplan(directory, "runs")       # any command marks dead drives
    assert listed.returncode == 0, listed.stderr
    assert service.get("crashy#1").status == Status.INTERRUPTED
    wait_for(lambda: not alive(step_pid), 10, "the orphaned step to stop")
    long = wait_for(lambda: (t := tasks_of(service, "crashy#1")["long"]).status
                     != Status.RUNNING and t, 15, "the worker to close the task")
    assert long.status == Status.INTERRUPTED, (long.status, long.error)
    assert service.get("crashy#1").status == Status.INTERRUPTED   # the worker left it so
    assert all(process.poll() is None for process in cluster.workers[:2]), "a worker died"

    resumed = cluster.flowplan(directory, "resume", "crashy#1", timeout=90)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run = service.get("crashy#1")
    assert run.status == Status.SUCCEEDED
    assert tasks_of(service, "crashy#1")["long"].attempt == 2
    assert "second" in log_text(service, "crashy#1")
    _assert_nothing_half_written(service, "crashy#1")


def test_a_worker_killed_mid_step_with_a_postgresql_store_is_sent_again(cluster, tmp_path):
    service = cluster.service()
    doomed = cluster.start_worker("doomed-pg", "fragile-pg", concurrency=1)
    marker = tmp_path / "first"
    script = f"if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi; echo second attempt"
    thread, outcome = in_background(lambda: service.start(
        "resent-pg", one_step(script, runs_on="fragile-pg", retries=1)))
    wait_for(marker.exists, what="the first attempt to start")
    first_pid = wait_for(lambda: _running_step_pid(service, "resent-pg"), what="its pid")

    os.kill(doomed.pid, signal.SIGKILL)
    cluster.start_worker("spare-pg", "fragile-pg", concurrency=1)
    thread.join(60)

    assert outcome and outcome[0].status == Status.SUCCEEDED, outcome[0].error
    record = tasks_of(service, outcome[0].run)["t"]
    assert record.attempt == 2
    assert "second attempt" in log_text(service, outcome[0].run)
    wait_for(lambda: not alive(first_pid), 10, "the lost attempt's process to be killed")
    _assert_nothing_half_written(service, outcome[0].run)
    service.store.close()


def test_a_worker_killed_mid_step_without_retries_fails_its_task_as_lost(cluster):
    service = cluster.service()
    doomed = cluster.start_worker("doomed-pg2", "lonely-pg", concurrency=1)
    thread, outcome = in_background(lambda: service.start(
        "lost-pg", one_step("sleep 60", runs_on="lonely-pg")))
    step_pid = wait_for(lambda: _running_step_pid(service, "lost-pg"), what="the step's pid")

    os.kill(doomed.pid, signal.SIGKILL)
    thread.join(30)

    assert outcome and outcome[0].status == Status.FAILED
    lost = tasks_of(service, outcome[0].run)["t"]
    assert lost.status == Status.FAILED and "worker lost: no heartbeat" in lost.error
    wait_for(lambda: not alive(step_pid), 10, "the lost step's process to be killed")
    _assert_nothing_half_written(service, outcome[0].run)
    service.store.close()


def test_postgresql_restarted_while_tasks_run_on_both_queues_loses_nothing(cluster, service):
    script = "echo before; sleep 3; echo after"
    definition = pipeline({"main": stage({
        "built": task(("s", {"type": "command", "run": script}), runs_on="build"),
        "plain": task(("s", {"type": "command", "run": script}))})})
    thread, outcome = in_background(lambda: service.start("pg-restart", definition))
    run = wait_for(lambda: next(iter(service.list_runs("pg-restart")), None), what="the run")
    wait_for(lambda: log_text(service, run.ref).count("before") == 2, what="both steps")

    cluster.postgres.restart()
    thread.join(90)

    assert outcome and outcome[0].status == Status.SUCCEEDED, outcome[0].error
    assert log_text(service, run.ref, task="built") == ["before", "after"]
    assert log_text(service, run.ref, task="plain") == ["before", "after"]
    assert {name: t.attempt for name, t in tasks_of(service, run.ref).items()} == \
        {"built": 1, "plain": 1}
    _assert_nothing_half_written(service, run.ref)


def test_redis_down_at_dispatch_fails_the_run_recorded_and_retried_once_it_is_back(cluster):
    """Last in the module: the broker stops under the workers, which reconnect."""
    service = cluster.service()
    cluster.redis.stop()
    try:
        started = time.monotonic()
        outcome = service.start("no-redis-pg", one_step("echo at last", runs_on="build"))
        assert time.monotonic() - started < 20
    finally:
        cluster.redis.start()

    assert outcome.status == Status.FAILED
    run = service.get(outcome.run)
    assert run.status == Status.FAILED and run.finished_at is not None
    error = tasks_of(service, outcome.run)["t"].error
    assert f"the broker {cluster.broker} cannot be reached" in error
    assert "flowplan retry" in error
    _assert_nothing_half_written(service, outcome.run)
    service.store.close()

    back = cluster.service()
    retried = back.retry(outcome.run)
    assert retried.status == Status.SUCCEEDED, retried.error
    assert log_text(back, outcome.run) == ["at last"]
    back.store.close()
