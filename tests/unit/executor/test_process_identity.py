"""Recorded processes are checked before they are trusted or signalled: a pid since given to
another process (another start time, another boot) is neither a live driver of a run nor a step
whose process group the next command kills. Real processes the tests own."""

from __future__ import annotations

import subprocess
import time

import pytest

from conftest import alive, one_step

from flowplan import processes
from flowplan.executor.run.scheduler import driver_alive


@pytest.fixture
def sleeper():
    """A `sleep` in its own process group, as a step's process is."""
    process = subprocess.Popen(["sleep", "60"], process_group=0)
    yield process
    process.kill()
    process.wait()


def dead_process() -> processes.ProcessIdentity:
    process = subprocess.Popen(["true"])
    identity = processes.identify(process.pid)
    process.wait()
    return identity


def orphaned_run(service, driver: processes.ProcessIdentity, step_pid: int,
                 step_start_time: int | None, step_boot: str | None):
    """app#1 `running`, recorded as driven by `driver`, its step running as `step_pid`."""
    run = service.create("app", one_step("sleep 60"))
    service.store.update_run(run.id, status="running", pid=driver.pid,
                             pid_start_time=driver.start_time, boot_id=driver.boot_id)
    task, = service.store.task_runs(run.id)
    step, = service.store.step_runs(run.id)
    service.store.update_task(task.id, status="running")
    service.store.update_step(step.id, status="running", pid=step_pid,
                              pid_start_time=step_start_time, boot_id=step_boot)
    return run


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_step_pid_that_is_now_another_process_is_not_killed(service, sleeper):
    me = processes.identify(sleeper.pid)
    orphaned_run(service, dead_process(), sleeper.pid, me.start_time - 1, me.boot_id)
    assert service.mark_interrupted() == ["app#1"]
    assert service.get("app#1").status == "interrupted"
    time.sleep(0.2)
    assert alive(sleeper.pid)


def test_step_pid_recorded_in_another_boot_is_not_killed(service, sleeper):
    me = processes.identify(sleeper.pid)
    orphaned_run(service, dead_process(), sleeper.pid, me.start_time,
                 "00000000-0000-0000-0000-000000000000")
    assert service.mark_interrupted() == ["app#1"]
    time.sleep(0.2)
    assert alive(sleeper.pid)


def test_step_pid_recorded_without_a_start_time_is_not_killed(service, sleeper):
    orphaned_run(service, dead_process(), sleeper.pid, None, None)
    assert service.mark_interrupted() == ["app#1"]
    time.sleep(0.2)
    assert alive(sleeper.pid)


def test_step_process_that_is_still_the_steps_is_killed(service, sleeper):
    me = processes.identify(sleeper.pid)
    orphaned_run(service, dead_process(), sleeper.pid, me.start_time, me.boot_id)
    assert service.mark_interrupted() == ["app#1"]
    assert gone(sleeper.pid)


def test_a_reused_driver_pid_does_not_make_a_dead_driver_look_alive(service, sleeper):
    me = processes.identify(sleeper.pid)
    reused = processes.ProcessIdentity(sleeper.pid, me.start_time - 1, me.boot_id)
    run = orphaned_run(service, reused, sleeper.pid, None, None)
    assert not driver_alive(service.get("app#1"))
    assert service.mark_interrupted() == ["app#1"]
    assert service.get("app#1").status == "interrupted"

    # the live driver it names, with its start time, is alive: the run is left to it
    service.store.update_run(run.id, status="running", pid=me.pid,
                             pid_start_time=me.start_time, boot_id=me.boot_id)
    assert driver_alive(service.get("app#1"))
    assert service.mark_interrupted() == []
    assert service.get("app#1").status == "running"


def test_a_step_records_its_process_start_time_and_boot(service, tmp_path):
    service.start("app", one_step("echo hi"))
    step, = service.store.step_runs(service.get("app#1").id)
    assert step.pid and step.pid_start_time and step.boot_id == processes.boot_id()


def test_a_run_records_its_driver_start_time_and_boot(service):
    run = service.create("app", one_step("echo hi"))
    me = processes.this_process()
    assert (run.pid, run.pid_start_time, run.boot_id) == (me.pid, me.start_time, me.boot_id)
