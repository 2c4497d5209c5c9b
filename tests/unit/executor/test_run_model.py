"""The run model: stages in order, parallel tasks, needs, manual stages, retries, allow_failure,
when, timeouts and the kill grace, workspaces — with real processes and the real store."""

from __future__ import annotations

import time

from conftest import (Recorder, alive, command, log_text, one_step, pipeline, stage, steps_of,
                      task, tasks_of)

from flowplan.executor import events
from flowplan.executor.status import Status
from flowplan.processes import account
from flowplan.store.gates import account_as


def test_stages_run_in_order_and_the_run_succeeds(service, tmp_path):
    trace = tmp_path / "trace"
    definition = pipeline({
        "first": stage({"a": task(("s", command(f"sleep 0.2; echo first >> {trace}")))}),
        "second": stage({"b": task(("s", command(f"echo second >> {trace}")))}),
    })
    recorder = Recorder()
    outcome = service.start("app", definition, user="alice", on_event=recorder)
    assert outcome.status == Status.SUCCEEDED and outcome.run == "app#1"
    assert trace.read_text().split() == ["first", "second"]
    assert [e.stage for e in recorder.of(events.StageStarted)] == ["first", "second"]
    run = service.get("app#1")
    assert (run.status, run.user, run.pid) == ("succeeded", "alice", None)
    assert run.started_at <= run.finished_at


def test_tasks_of_a_stage_run_in_parallel(service):
    tasks = {f"t{i}": task(("s", command("sleep 0.5"))) for i in range(4)}
    started = time.monotonic()
    outcome = service.start("app", pipeline({"s": stage(tasks)}, parallelism=4))
    assert outcome.status == Status.SUCCEEDED
    assert time.monotonic() - started < 1.5
    times = [(t.started_at, t.finished_at) for t in tasks_of(service, "app#1").values()]
    latest_start = max(start for start, _ in times)
    earliest_end = min(end for _, end in times)
    assert latest_start < earliest_end            # all four were running at the same moment


def test_parallelism_limits_how_many_tasks_run_at_once(service):
    tasks = {f"t{i}": task(("s", command("sleep 0.3"))) for i in range(4)}
    started = time.monotonic()
    service.start("app", pipeline({"s": stage(tasks)}), parallelism=2)
    assert time.monotonic() - started >= 0.6


def test_needs_orders_tasks_inside_a_stage(service, tmp_path):
    trace = tmp_path / "trace"
    tasks = {
        "deploy": task(("s", command(f"echo deploy >> {trace}")), needs=["build", "lint"]),
        "build": task(("s", command(f"sleep 0.3; echo build >> {trace}"))),
        "lint": task(("s", command(f"sleep 0.1; echo lint >> {trace}"))),
    }
    assert service.start("app", pipeline({"s": stage(tasks)})).status == Status.SUCCEEDED
    assert trace.read_text().split() == ["lint", "build", "deploy"]


def test_a_task_whose_need_failed_is_skipped_and_the_stage_fails(service):
    tasks = {"build": task(("s", command("exit 3"))),
             "deploy": task(("s", command("echo never")), needs=["build"])}
    outcome = service.start("app", pipeline({"s": stage(tasks),
                                             "later": stage({"x": task(("s", command("true")))})}))
    assert outcome.status == Status.FAILED
    assert "task s/build failed" in outcome.error and "exit code 3" in outcome.error
    tasks_ = tasks_of(service, "app#1")
    assert (tasks_["deploy"].status, tasks_["deploy"].skip_reason) == ("skipped", "upstream")
    assert (tasks_["x"].status, tasks_["x"].skip_reason) == ("skipped", "upstream")
    assert steps_of(service, "app#1")[("build", "s")].exit_code == 3


def test_steps_run_in_order_in_one_workspace(service, config_dir):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"] = task(
        ("write", command("echo built > out.txt")),
        ("read", command("cat out.txt; pwd")))
    assert service.start("app", definition).status == Status.SUCCEEDED
    workspace = config_dir / ".flowplan" / "workspaces" / "app" / "1" / "main" / "t"
    assert log_text(service, "app#1", step="read") == ["built", str(workspace)]


def test_step_environment_has_builtins_pipeline_variables_and_step_env(service):
    definition = one_step('echo "$FLOWPLAN_PIPELINE $FLOWPLAN_RUN_NUMBER $FLOWPLAN_TRIGGER '
                          '$REGION $LEVEL"')
    definition["variables"] = {"REGION": "cn-hangzhou"}
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"]["env"] = {"LEVEL": "3"}
    service.start("app", definition, trigger="webhook")
    assert log_text(service, "app#1") == ["app 1 webhook cn-hangzhou 3"]


def test_a_failing_step_stops_its_task(service, tmp_path):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"] = task(
        ("bad", command("echo before; exit 2")), ("after", command("echo after")))
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    steps = steps_of(service, "app#1")
    assert steps[("t", "bad")].status == "failed"
    assert steps[("t", "after")].status == "queued"


def test_manual_stage_makes_the_run_wait_until_someone_continues_it(service, tmp_path):
    trace = tmp_path / "trace"
    definition = pipeline({
        "build": stage({"b": task(("s", command(f"echo build >> {trace}")))}),
        "deploy": stage({"d": task(("s", command(f"echo deploy >> {trace}")))},
                        trigger="manual"),
    })
    recorder = Recorder()
    outcome = service.start("app", definition, on_event=recorder)
    assert outcome.status == Status.WAITING
    assert outcome.commands[0] == "flowplan approve app#1"
    assert outcome.gates[0].stage == "deploy" and outcome.gates[0].task is None
    assert recorder.of(events.RunWaiting)[0].commands == outcome.commands
    assert trace.read_text().split() == ["build"]
    run = service.get("app#1")
    assert (run.status, run.pid) == ("waiting", None)

    continued = service.approve("app#1", "bob", "go")
    assert continued.status == Status.SUCCEEDED
    assert trace.read_text().split() == ["build", "deploy"]


def test_rejected_manual_stage_fails_the_run(service):
    definition = pipeline({"deploy": stage({"d": task(("s", command("echo x")))},
                                           trigger="manual")})
    assert service.start("app", definition).status == Status.WAITING
    outcome = service.reject("app#1", "bob", "not today")
    assert outcome.status == Status.FAILED
    assert outcome.error == \
        f"stage deploy was rejected by {account_as(account().name, 'bob')}: not today"
    assert tasks_of(service, "app#1")["d"].skip_reason == "rejected"


def test_retries_run_the_task_steps_again(service, tmp_path):
    counter = tmp_path / "count"
    script = (f"echo x >> {counter}; "
              f"test $(wc -l < {counter}) -ge 3 || {{ echo attempt failed; exit 1; }}")
    recorder = Recorder()
    outcome = service.start("app", one_step(script, retries=2), on_event=recorder)
    assert outcome.status == Status.SUCCEEDED
    finished = recorder.of(events.TaskFinished)
    assert [(e.attempt, e.status, e.will_retry) for e in finished] == [
        (1, Status.FAILED, True), (2, Status.FAILED, True), (3, Status.SUCCEEDED, False)]
    run = service.get("app#1")
    attempts = [(s.attempt, s.status) for s in service.store.step_runs(run.id)]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert tasks_of(service, "app#1")["t"].attempt == 3


def test_retries_give_up_after_the_last_attempt(service):
    outcome = service.start("app", one_step("exit 1", retries=1))
    assert outcome.status == Status.FAILED
    assert tasks_of(service, "app#1")["t"].attempt == 2


def test_allowed_failure_counts_as_succeeded_with_a_warning(service):
    tasks = {"flaky": task(("s", command("exit 1")), allow_failure=True),
             "good": task(("s", command("true")))}
    recorder = Recorder()
    outcome = service.start("app", pipeline({"s": stage(tasks),
                                             "next": stage({"n": task(("s", command("true")))})}),
                            on_event=recorder)
    assert outcome.status == Status.SUCCEEDED
    flaky = tasks_of(service, "app#1")["flaky"]
    assert (flaky.status, flaky.failure_allowed) == ("failed", True)
    finished = recorder.of(events.RunFinished)[0]
    assert finished.warnings == ("s/flaky: step s: exit code 1",)
    assert tasks_of(service, "app#1")["n"].status == "succeeded"


def test_when_false_skips_the_task(service, tmp_path):
    marker = tmp_path / "ran"
    tasks = {"only_on_master": task(("s", command(f"touch {marker}")), when=False),
             "always": task(("s", command("true")), when=True)}
    assert service.start("app", pipeline({"s": stage(tasks)})).status == Status.SUCCEEDED
    skipped = tasks_of(service, "app#1")["only_on_master"]
    assert (skipped.status, skipped.skip_reason) == ("skipped", "when")
    assert not marker.exists()


def test_step_timeout_stops_the_process_group(service, tmp_path):
    child = tmp_path / "child.pid"
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"].update(
        run=f"sleep 30 & echo $! > {child}; wait", timeout="1s")
    started = time.monotonic()
    outcome = service.start("app", definition)
    assert time.monotonic() - started < 5
    assert outcome.status == Status.FAILED
    step = steps_of(service, "app#1")[("t", "s")]
    assert step.error.startswith("timed out: the step's timeout of 1s ran out")
    assert not alive(int(child.read_text()))


def test_task_timeout_covers_all_its_steps(service):
    definition = one_step("true", timeout="1s")
    definition["stages"]["main"]["tasks"]["t"] = task(
        ("a", command("sleep 0.6")), ("b", command("sleep 5")), timeout="1s")
    started = time.monotonic()
    outcome = service.start("app", definition)
    assert time.monotonic() - started < 4
    assert outcome.status == Status.FAILED
    assert "the task's timeout of 1s ran out" in steps_of(service, "app#1")[("t", "b")].error


def test_a_step_ignoring_sigterm_is_killed_after_the_grace_period(service):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"].update(
        run="trap '' TERM; echo ready; sleep 30; echo survived", timeout="1s")
    started = time.monotonic()
    outcome = service.start("app", definition)
    elapsed = time.monotonic() - started
    assert outcome.status == Status.FAILED
    assert 1.4 <= elapsed < 5                      # 1 s timeout + 0.5 s grace
    step = steps_of(service, "app#1")[("t", "s")]
    assert "SIGTERM, then SIGKILL after 0.5s" in step.error
    assert log_text(service, "app#1") == ["ready"]


def test_workspace_path_escaping_its_root_is_refused(service, config_dir):
    definition = pipeline({"s": stage({"../../escape": task(("s", command("touch here")))})})
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    task_ = tasks_of(service, "app#1")["../../escape"]
    assert "cannot be used as a file name" in task_.error
    assert not (config_dir / ".flowplan" / "here").exists()
    assert not (config_dir / "escape").exists()


def test_unknown_step_type_fails_the_step_with_the_known_types(service):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"] = {"index": 0, "type": "teleport"}
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    error = steps_of(service, "app#1")[("t", "s")].error
    assert "unknown step type 'teleport'" in error and "command" in error


def test_invalid_step_attributes_fail_the_step(service):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"]["timeout"] = "soon"
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert "invalid attributes" in steps_of(service, "app#1")[("t", "s")].error


def test_step_outputs_are_stored(service):
    script = 'echo "VERSION=1.2.3" >> "$FLOWPLAN_OUTPUT"; printf "NOTES<<END\\na\\nb\\nEND\\n" ' \
             '>> "$FLOWPLAN_OUTPUT"'
    assert service.start("app", one_step(script)).status == Status.SUCCEEDED
    assert steps_of(service, "app#1")[("t", "s")].outputs == {"VERSION": "1.2.3",
                                                                "NOTES": "a\nb"}


def test_declared_output_that_is_missing_fails_the_step(service):
    definition = one_step("true")
    definition["stages"]["main"]["tasks"]["t"]["steps"]["s"]["outputs"] = ["VERSION"]
    assert service.start("app", definition).status == Status.FAILED
    assert "VERSION not written" in steps_of(service, "app#1")[("t", "s")].error


def test_events_report_every_transition_in_order(service):
    recorder = Recorder()
    service.start("app", one_step("echo hi"), on_event=recorder)
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["RunStarted", "StageStarted", "TaskStarted", "StepStarted", "LogLines",
                     "StepFinished", "TaskFinished", "StageFinished", "RunFinished"]
    assert all(e.run == "app#1" for e in recorder.events)


def test_show_gives_the_run_tree(service):
    definition = pipeline({"build": stage({"b": task(("one", command("true")),
                                                     ("two", command("exit 1")))})})
    service.start("app", definition)
    tree = service.show("app#1")
    assert tree.run.status == "failed"
    (build,) = tree.stages
    assert (build.name, build.status) == ("build", Status.FAILED)
    assert [(s.step, s.status) for s in build.tasks[0].steps] == [("one", "succeeded"),
                                                                  ("two", "failed")]


