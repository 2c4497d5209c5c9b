"""Runs across processes: concurrent runs of one pipeline, a runner killed mid-run then resumed,
a run canceled from another process. Real processes, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import (alive, approval, command, make_service, one_step, pipeline, stage, steps_of,
                      task, tasks_of)

from flowplan.executor.status import Status

RUNNER = Path(__file__).with_name("run_in_process.py")
REPO = Path(__file__).resolve().parents[3]


def spawn_runner(config_dir: Path, pipeline_name: str, definition: dict,
                 grace: float = 0.5) -> subprocess.Popen:
    path = config_dir / f"{pipeline_name}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(definition))
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(RUNNER), str(config_dir), pipeline_name,
                             str(path), str(grace)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment)


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def running_step(service, ref: str, task_name: str = "t", step: str = "s"):
    def check():
        try:
            record = steps_of(service, ref)[(task_name, step)]
        except Exception:  # noqa: BLE001 - the run is not there yet
            return None
        return record if record.status == "running" and record.pid else None
    return wait_for(check)


def test_two_concurrent_runs_of_one_pipeline_get_different_numbers(config_dir):
    make_service(config_dir).store.close()        # create the store first
    definition = one_step("sleep 0.3; echo $FLOWPLAN_RUN_NUMBER")
    runners = [spawn_runner(config_dir, "app", definition) for _ in range(2)]
    outputs = [runner.communicate(timeout=60)[0].split() for runner in runners]
    assert sorted(output[0] for output in outputs) == ["app#1", "app#2"]
    assert all(output[1] == "succeeded" for output in outputs)
    service = make_service(config_dir)
    assert sorted(run.number for run in service.list_runs("app")) == [1, 2]
    assert [line.text for line in service.logs("app#2")] == ["2"]


def test_runner_killed_mid_run_is_marked_interrupted_and_resumed(config_dir, tmp_path):
    marker = tmp_path / "second-time"
    definition = pipeline({"main": stage({
        "t": task(("first", command("echo first")),
                  ("s", command(f"test -e {marker} && echo resumed || sleep 60")))})})
    runner = spawn_runner(config_dir, "app", definition)
    service = make_service(config_dir)
    step = running_step(service, "app#1")
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    assert alive(step.pid)                                   # the step outlived its runner

    assert service.mark_interrupted() == ["app#1"]
    run = service.get("app#1")
    assert (run.status, run.pid) == ("interrupted", None)
    assert "is gone" in run.error
    assert steps_of(service, "app#1")[("t", "s")].status == "interrupted"
    assert steps_of(service, "app#1")[("t", "first")].status == "succeeded"
    wait_for(lambda: not alive(step.pid), timeout=5)        # its process group was killed
    assert service.mark_interrupted() == []

    marker.touch()
    outcome = service.resume("app#1")
    assert outcome.status == Status.SUCCEEDED
    assert tasks_of(service, "app#1")["t"].attempt == 2
    assert [line.text for line in service.logs("app#1", step="s")] == ["resumed"]


def test_cancel_from_another_process_stops_the_run_and_its_process_group(config_dir, tmp_path):
    child = tmp_path / "child"
    definition = one_step(f"sleep 60 & echo $! > {child}; wait")
    runner = spawn_runner(config_dir, "app", definition, grace=5)
    service = make_service(config_dir)
    running_step(service, "app#1")
    wait_for(lambda: child.exists() and child.read_text().strip())
    started = time.monotonic()
    record = service.cancel("app#1", user="alice")
    assert (record.status, record.error) == ("canceled", "canceled by alice")
    output = runner.communicate(timeout=30)[0]
    assert time.monotonic() - started < 5                    # SIGTERM did it, no grace needed
    assert output.split() == ["app#1", "canceled"]
    assert not alive(int(child.read_text()))
    assert tasks_of(service, "app#1")["t"].status == "canceled"
    assert service.get("app#1").status == "canceled"


def test_cancel_of_a_waiting_run_cancels_its_waiting_tasks(service):

    service.start("app", pipeline({"s": stage({"gate": task(("ok", approval()))})}))
    record = service.cancel("app#1")
    assert record.status == "canceled"
    assert tasks_of(service, "app#1")["gate"].status == "canceled"
    assert steps_of(service, "app#1")[("gate", "ok")].status == "canceled"


def test_a_run_canceled_between_creation_and_start_is_not_started(service, tmp_path):
    from flowplan.executor.run.environment import RunValues
    from flowplan.executor.run.scheduler import Drive

    marker = tmp_path / "ran"
    run = service.create("app", one_step(f"touch {marker}"))
    service.store.update_run(run.id, status="canceled", error="canceled by bob")  # elsewhere
    result = Drive(service.store, service.settings, run, RunValues()).run()
    assert (result.status, result.error) == (Status.CANCELED, "canceled by bob")
    assert not marker.exists()
    assert service.get(run.ref).status == "canceled"
