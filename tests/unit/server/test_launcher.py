"""The server's launcher: runs recorded at once and driven on threads, the applied definition
(a new apply seen by the next start, prepared once otherwise), each `on_limit` mode, other
processes' runs counted, cancel of a run this process drives, shutdown and retry."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from flowplan import engine
from flowplan.server.launcher import Launcher, LaunchRefused, admit

from conftest import apply_config, pipeline, quick, wait_for


def status_of(service, ref: str) -> str:
    return service.get(ref).status


def gate_file(directory, name: str) -> str:
    """A step that waits until the file `name` exists in `directory`."""
    return f"while [ ! -f {directory}/{name} ]; do sleep 0.02; done"


@pytest.fixture
def launcher_for():
    made = []

    def make(directory, **kwargs):
        service = quick(engine.open_run_service(directory))
        launcher = Launcher(directory, service, **kwargs)
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        launcher.shutdown(timeout=10)
        launcher.service.store.close()


def test_start_records_a_queued_run_and_drives_it_to_the_end(workspace, launcher_for):
    directory = workspace(pipeline("ci", "echo hello"))
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user="github:octocat", branch="main",
                            commit="a" * 40)
    assert record.ref == "ci#1" and record.status in ("queued", "running")
    assert (record.trigger, record.user, record.branch, record.commit) == (
        "webhook", "github:octocat", "main", "a" * 40)
    wait_for(lambda: status_of(launcher.service, "ci#1") == "succeeded", what="ci#1 succeeds")
    assert launcher.service.get("ci#1").origin == "applied"
    wait_for(lambda: launcher.running() == [], what="the drive thread ends")


def test_unknown_and_unapplied_pipelines_are_refused_with_what_to_do(workspace, launcher_for):
    directory = workspace(pipeline("ci"))
    launcher = launcher_for(directory)
    with pytest.raises(LaunchRefused, match='No pipeline named "nope"'):
        launcher.start("nope", trigger="webhook", user=None)
    (directory / "more.hcl").write_text(pipeline("later"))
    with pytest.raises(LaunchRefused, match="has not been applied: run `flowplan apply`"):
        launcher.start("later", trigger="webhook", user=None)
    assert launcher.service.list_runs() == []


def test_pipeline_variables_are_set_and_unknown_ones_refused(workspace, launcher_for):
    directory = workspace(pipeline("ci", "echo $MODE", extra='  variables = { MODE = "slow" }'))
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user=None, variables={"MODE": "fast"})
    wait_for(lambda: status_of(launcher.service, record.ref) == "succeeded")
    assert launcher.service.get(record.ref).variables == {}     # var.* only; MODE is run.*
    assert launcher.service.get(record.ref).definition["variables"] == {"MODE": "fast"}
    with pytest.raises(LaunchRefused, match='has no pipeline variable "OTHER"'):
        launcher.start("ci", trigger="webhook", user=None, variables={"OTHER": "x"})


def test_definition_is_prepared_once_until_an_apply_changes_it(workspace, launcher_for):
    directory = workspace(pipeline("ci", "echo one"))
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[1])
        return engine.prepare_run(*args, **kwargs)

    launcher = launcher_for(directory, prepare=counting)
    first = launcher.start("ci", trigger="webhook", user=None)
    second = launcher.start("ci", trigger="webhook", user=None)
    assert calls == ["ci"]
    apply_config(directory, pipeline("ci", "echo two"))
    third = launcher.start("ci", trigger="webhook", user=None)
    assert calls == ["ci", "ci"]
    steps = [launcher.service.get(r.ref).definition["stages"]["s"]["tasks"]["t"]["steps"]["x"]
             ["run"] for r in (first, second, third)]
    assert steps == ["echo one", "echo one", "echo two"]


def test_queue_starts_waiting_runs_first_in_first_out_when_a_slot_frees(workspace,
                                                                         launcher_for, tmp_path):
    directory = workspace(pipeline("ci", gate_file(tmp_path, "go-$FLOWPLAN_RUN_NUMBER"),
                                   extra="  max_concurrent_runs = 1"))
    launcher = launcher_for(directory)
    refs = [launcher.start("ci", trigger="webhook", user=None).ref for _ in range(3)]
    wait_for(lambda: status_of(launcher.service, "ci#1") == "running")
    time.sleep(0.3)
    assert [status_of(launcher.service, r) for r in refs] == ["running", "queued", "queued"]
    assert launcher.waiting() == ["ci#2", "ci#3"]
    for number in (1, 2, 3):
        (tmp_path / f"go-{number}").touch()
        wait_for(lambda: status_of(launcher.service, f"ci#{number}") == "succeeded")
    runs = [launcher.service.get(r) for r in refs]
    assert runs[0].finished_at <= runs[1].started_at and runs[1].finished_at <= runs[2].started_at


def test_reject_new_refuses_past_the_limit_and_records_nothing(workspace, launcher_for,
                                                                tmp_path):
    directory = workspace(pipeline("ci", gate_file(tmp_path, "go"),
                                   extra='  max_concurrent_runs = 1\n  on_limit = "reject_new"'))
    launcher = launcher_for(directory)
    launcher.start("ci", trigger="webhook", user=None)
    with pytest.raises(LaunchRefused, match='ci has 1 running run .*on_limit = "reject_new"'):
        launcher.start("ci", trigger="webhook", user=None)
    assert [r.ref for r in launcher.service.list_runs("ci")] == ["ci#1"]
    (tmp_path / "go").touch()
    wait_for(lambda: status_of(launcher.service, "ci#1") == "succeeded")
    wait_for(lambda: launcher.running() == [])
    assert launcher.start("ci", trigger="webhook", user=None).ref == "ci#2"


def test_cancel_oldest_cancels_the_running_run_and_starts_the_new_one(workspace, launcher_for,
                                                                       tmp_path):
    directory = workspace(pipeline("ci", gate_file(tmp_path, "go-$FLOWPLAN_RUN_NUMBER"),
                                   extra='  max_concurrent_runs = 1\n'
                                         '  on_limit = "cancel_oldest"'))
    launcher = launcher_for(directory)
    launcher.start("ci", trigger="webhook", user=None)
    wait_for(lambda: status_of(launcher.service, "ci#1") == "running")
    launcher.start("ci", trigger="webhook", user=None)
    wait_for(lambda: status_of(launcher.service, "ci#2") == "running", what="ci#2 running")
    first = launcher.service.get("ci#1")
    assert first.status == "canceled" and "cancel_oldest" in first.error
    (tmp_path / "go-2").touch()
    wait_for(lambda: status_of(launcher.service, "ci#2") == "succeeded")


def test_runs_another_process_drives_hold_slots_too(workspace, launcher_for):
    directory = workspace(pipeline("ci", extra='  max_concurrent_runs = 1\n'
                                               '  on_limit = "reject_new"'))
    launcher = launcher_for(directory)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        launcher.service.store.create_run("ci", trigger="manual", user="bob",
                                          definition={"stages": {}}, tasks=[],
                                          status="running", pid=other.pid, host=os.uname()[1])
        with pytest.raises(LaunchRefused, match="ci has 1 running run"):
            launcher.start("ci", trigger="webhook", user=None)
    finally:
        other.kill()
        other.wait()


def test_cancel_stops_a_run_this_process_drives(workspace, launcher_for, tmp_path):
    """As when another process drives it: SIGTERM first (the step may clean up), and the drive
    records the end."""
    directory = workspace(pipeline(
        "ci", f"trap 'touch {tmp_path}/term; exit 1' TERM; touch {tmp_path}/started; "
              "sleep 60 & wait"))
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user=None)
    wait_for(lambda: (tmp_path / "started").exists(), what="the step started")
    began = time.monotonic()
    launcher.service.cancel(record.ref, user="alice")
    wait_for(lambda: launcher.running() == [], what="the drive ends")
    assert time.monotonic() - began < 5
    tree = launcher.service.show(record.ref)
    assert tree.run.status == "canceled" and tree.run.error == "canceled by alice"
    assert [s.status for s in tree.stages[0].tasks[0].steps] == ["canceled"]
    assert tree.run.pid is None
    assert (tmp_path / "term").exists()


def test_shutdown_cancels_runs_in_flight_which_retry_continues(workspace, launcher_for,
                                                                tmp_path):
    script = f"if [ ! -f {tmp_path}/second ]; then touch {tmp_path}/second; sleep 60; fi"
    directory = workspace(pipeline("ci", script))
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user=None)
    wait_for(lambda: (tmp_path / "second").exists())
    began = time.monotonic()
    launcher.shutdown(timeout=10)
    assert time.monotonic() - began < 5 and launcher.running() == []
    run = launcher.service.get(record.ref)
    assert (run.status, run.error, run.pid) == ("canceled", "canceled: the server stopped", None)
    with pytest.raises(LaunchRefused, match="the server is stopping"):
        launcher.start("ci", trigger="webhook", user=None)
    assert launcher.service.retry(record.ref).status == "succeeded"


def test_continue_in_background_approves_without_waiting_for_the_run(workspace, launcher_for):
    directory = workspace("""\
        pipeline "ci" {
          stage "release" {
            task "gate" {
              step "ok" {
                type = "manual_approval"
              }
            }
          }
        }
        """)
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user=None)
    wait_for(lambda: status_of(launcher.service, record.ref) == "waiting")
    launcher.continue_in_background(
        record.ref, lambda: launcher.service.approve(record.ref, "alice"))
    wait_for(lambda: status_of(launcher.service, record.ref) == "succeeded")


def test_admit_is_the_rule_table():
    class Run:
        def __init__(self, id):
            self.id, self.ref = id, f"p#{id}"

    limited = {"max_concurrent_runs": 2, "on_limit": "cancel_oldest"}
    assert admit("p", {}, [Run(1)] * 9).action == "start"
    assert admit("p", limited, [Run(1)]).action == "start"
    assert admit("p", limited, [Run(3), Run(1), Run(2)]).cancel == ("p#1", "p#2")
    assert admit("p", {**limited, "on_limit": "queue"}, [Run(1), Run(2)]).action == "queue"
    assert admit("p", {**limited, "on_limit": "reject_new"}, [Run(1), Run(2)]).action == "reject"


def test_approval_while_a_thread_here_drives_the_run_never_drives_it_twice(workspace,
                                                                          launcher_for,
                                                                          tmp_path):
    """The approval is recorded at once; the drive under way picks it up, or, when it ended
    waiting just before, the approving call continues the run once that drive is over."""
    directory = workspace(f"""\
        pipeline "ci" {{
          stage "s" {{
            task "gate" {{
              step "ok" {{
                type = "manual_approval"
              }}
            }}
            task "slow" {{
              step "wait" {{
                type = "command"
                run  = "{gate_file(tmp_path, 'go')}"
              }}
            }}
          }}
        }}
        """)
    launcher = launcher_for(directory)
    record = launcher.start("ci", trigger="webhook", user=None)
    service = launcher.service
    wait_for(lambda: any(s.status == "waiting" for s in service.store.step_runs(record.id)),
             what="the approval step waits")
    launcher.continue_in_background(record.ref, lambda: service.approve(record.ref, "alice"))
    wait_for(lambda: service.store.approvals(record.id), what="the approval is recorded")
    (tmp_path / "go").touch()
    wait_for(lambda: status_of(service, record.ref) == "succeeded")
    assert [s.status for s in service.store.step_runs(record.id)] == ["succeeded", "succeeded"]


def test_delivery_is_claimed_with_its_run_and_a_redelivery_starts_nothing(workspace,
                                                                        launcher_for):
    from flowplan.store import DeliveryClaim, DeliveryRedelivered

    directory = workspace(pipeline("ci") + pipeline("limited", extra="  max_concurrent_runs = 5"))
    launcher = launcher_for(directory)
    for name in ("ci", "limited"):             # the batched path, and the counted one
        claim = DeliveryClaim("push", f"d-{name}", "github", "push", "push to main")
        record = launcher.start(name, trigger="webhook", user=None, delivery=claim)
        with pytest.raises(DeliveryRedelivered) as again:
            launcher.start(name, trigger="webhook", user=None, delivery=claim)
        assert again.value.original.run == record.ref
        assert [r.ref for r in launcher.service.list_runs(name)] == [f"{name}#1"]
        wait_for(lambda: status_of(launcher.service, record.ref) == "succeeded")


def test_runs_recorded_while_deliveries_are_answered_wait_for_the_answers(workspace,
                                                                           launcher_for):
    directory = workspace(pipeline("ci"))
    launcher = launcher_for(directory)
    with launcher.answering():
        record = launcher.start("ci", trigger="webhook", user=None)
        time.sleep(0.3)
        assert launcher.waiting() == [record.ref]
        assert status_of(launcher.service, record.ref) == "queued"
    wait_for(lambda: status_of(launcher.service, record.ref) == "succeeded")


def test_a_run_waits_for_the_answers_at_most_the_hold_time(workspace, launcher_for,
                                                          monkeypatch):
    from flowplan.server import launcher as launcher_module

    monkeypatch.setattr(launcher_module, "HOLD_SECONDS", 0.3)
    directory = workspace(pipeline("ci"))
    launcher = launcher_for(directory)
    with launcher.answering():
        record = launcher.start("ci", trigger="webhook", user=None)
        wait_for(lambda: status_of(launcher.service, record.ref) == "succeeded", timeout=10)
