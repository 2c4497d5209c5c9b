"""Run history in the store: numbering, transitions, claims, logs, approvals, artifacts, caches,
secrets and roles, against a real SQLite file."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from flowplan.store import RunHeld, StepPlan, Store, TaskPlan
from flowplan.store.schema import utc_now

TASKS = (TaskPlan("build", 0, "compile", 0, (StepPlan("one", "command", 0),
                                             StepPlan("two", "command", 1))),
         TaskPlan("build", 0, "lint", 1, (StepPlan("sh", "command", 0),)))


def new_run(store: Store, pipeline: str = "app", **kwargs):
    return store.create_run(pipeline, trigger="manual", user="alice", definition={"stages": {}},
                            tasks=TASKS, **kwargs)


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def test_runs_are_numbered_per_pipeline(store):
    assert [new_run(store).number for _ in range(3)] == [1, 2, 3]
    assert new_run(store, "other").number == 1
    assert store.find_run("app", 2).ref == "app#2"
    assert [run.number for run in store.list_runs("app")] == [3, 2, 1]


def test_new_run_has_its_tasks_and_first_attempt_steps_queued(store):
    run = new_run(store, variables={"region": "x"}, options={"parallelism": 2})
    assert run.status == "queued" and run.variables == {"region": "x"}
    tasks = store.task_runs(run.id)
    assert [(t.stage, t.task, t.status, t.attempt) for t in tasks] == [
        ("build", "compile", "queued", 1), ("build", "lint", "queued", 1)]
    steps = store.step_runs(run.id)
    assert [(s.task, s.step, s.attempt, s.status) for s in steps] == [
        ("compile", "one", 1, "queued"), ("compile", "two", 1, "queued"),
        ("lint", "sh", 1, "queued")]


def test_run_definition_must_be_json_data(store):
    with pytest.raises(ValueError, match="JSON data only"):
        store.create_run("app", trigger="manual", user=None, definition={"x": object()},
                         tasks=())


def _create_runs(url: str, count: int, queue) -> None:
    with Store.open(url) as store:
        queue.put([new_run(store).number for _ in range(count)])


def test_two_processes_creating_runs_at_once_never_share_a_number(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url).close()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_create_runs, args=(url, 25, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    numbers = queue.get(timeout=60) + queue.get(timeout=60)
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(numbers) == list(range(1, 51))


def test_new_attempt_adds_step_rows_and_keeps_the_old_ones(store):
    run = new_run(store)
    task = store.task_runs(run.id)[0]
    ids = store.start_task_attempt(task.id, 2, [StepPlan("one", "command", 0),
                                                StepPlan("two", "command", 1)],
                                   status="running")
    assert set(ids) == {"one", "two"}
    assert store.task_runs(run.id)[0].attempt == 2
    assert [(s.step, s.attempt) for s in store.step_runs(run.id) if s.task == "compile"] == [
        ("one", 1), ("two", 1), ("one", 2), ("two", 2)]
    assert [(s.step, s.attempt) for s in store.step_runs(run.id, latest=True)
            if s.task == "compile"] == [("one", 2), ("two", 2)]
    # asking again for the same attempt finds the rows instead of adding more
    assert store.start_task_attempt(task.id, 2, [StepPlan("one", "command", 0)]) == ids


def test_record_writes_chunks_and_transitions_in_one_go(store):
    run = new_run(store)
    one, two = [s.id for s in store.step_runs(run.id)[:2]]
    now = utc_now()
    store.record(steps=[(one, {"status": "succeeded", "finished_at": now, "exit_code": 0}),
                        (two, {"status": "running", "started_at": now})],
                 chunks=[{"run_id": run.id, "step_run_id": one, "first_seq": 1,
                          "line_count": 2, "at": 1.5, "stream": "stdout", "text": "a\nb"}])
    steps = {s.id: s for s in store.step_runs(run.id)}
    assert (steps[one].status, steps[one].exit_code) == ("succeeded", 0)
    assert steps[two].status == "running"
    assert [(line.seq, line.text) for line in store.log_lines(run.id)] == [(1, "a"), (2, "b")]


def test_unknown_fields_are_refused(store):
    run = new_run(store)
    with pytest.raises(ValueError, match="cannot set colour"):
        store.update_run(run.id, colour="red")


def test_update_run_respects_a_status_guard(store):
    run = new_run(store)
    store.update_run(run.id, status="canceled")
    assert store.update_run(run.id, unless_status=("canceled",), status="failed") is False
    assert store.run_status(run.id) == "canceled"


def test_claim_refuses_a_run_a_live_process_holds_and_takes_one_a_dead_process_held(store):
    run = new_run(store, pid=111, host="h")
    with pytest.raises(RunHeld) as caught:
        store.claim_run(run.id, 222, "h", holder_alive=lambda run: True)
    assert (caught.value.pid, caught.value.host) == (111, "h")
    claimed = store.claim_run(run.id, 222, "h", holder_alive=lambda run: False,
                              status="running")
    assert (claimed.pid, claimed.status) == (222, "running")
    store.release_run(run.id, 222, status="waiting")
    released = store.get_run(run.id)
    assert (released.pid, released.status) == (None, "waiting")


def test_interrupt_marks_running_work_and_returns_running_steps(store):
    run = new_run(store, pid=5, host="h", status="running")
    task = store.task_runs(run.id)[0]
    step = store.step_runs(run.id)[0]
    store.update_task(task.id, status="running")
    store.update_step(step.id, status="running", pid=4242)
    assert [s.pid for s in store.interrupt_run(run.id, "gone")] == [4242]
    assert store.get_run(run.id).status == "interrupted"
    assert store.task_runs(run.id)[0].status == "interrupted"
    assert store.step_runs(run.id)[0].status == "interrupted"
    assert [r.id for r in store.held_runs("h")] == []


def test_log_lines_can_be_read_per_step_and_after_a_chunk(store):
    run = new_run(store)
    one, two = [s.id for s in store.step_runs(run.id)[:2]]
    store.add_log_chunks([
        {"run_id": run.id, "step_run_id": one, "first_seq": 1, "line_count": 1, "at": 1.0,
         "stream": "stdout", "text": "first"},
        {"run_id": run.id, "step_run_id": two, "first_seq": 1, "line_count": 2, "at": 2.0,
         "stream": "stderr", "text": "x\ny"}])
    assert [line.text for line in store.log_lines(run.id, step_run_ids=[two])] == ["x", "y"]
    first_chunk = store.log_chunks(run.id)[0].id
    assert [line.text for line in store.log_lines(run.id, after_id=first_chunk)] == ["x", "y"]


def test_approvals_are_kept_in_order(store):
    run = new_run(store)
    store.add_approval(run.id, stage="deploy", user="alice", decision="approve", comment="ok")
    store.add_approval(run.id, stage="deploy", task="t", step="s", user="bob",
                       decision="reject")
    assert [(a.user, a.decision) for a in store.approvals(run.id)] == [
        ("alice", "approve"), ("bob", "reject")]
    assert store.approval_count(run.id) == 2
    with pytest.raises(ValueError, match="decision"):
        store.add_approval(run.id, stage="deploy", user="x", decision="maybe")


def test_artifact_of_the_same_name_replaces_the_earlier_one(store):
    run = new_run(store)
    store.put_artifact(run.id, "package", path="/a/1.tgz", size=1, sha256="a" * 64)
    store.put_artifact(run.id, "package", path="/a/2.tgz", size=2, sha256="b" * 64)
    assert [(a.path, a.size) for a in store.artifacts(run.id)] == [("/a/2.tgz", 2)]
    assert store.get_artifact(run.id, "package").sha256 == "b" * 64


def test_cache_index_finds_exact_keys_and_the_newest_prefix_match(store):
    assert store.add_cache_entry("app", "deps", "deps-1", path="p1", size=1, sha256="x")
    assert store.add_cache_entry("app", "deps", "deps-2", path="p2", size=1, sha256="y")
    assert not store.add_cache_entry("app", "deps", "deps-2", path="p3", size=1, sha256="z")
    assert store.find_cache_entry("app", "deps", "deps-1").path == "p1"
    assert store.find_cache_entry("app", "deps", "deps-3") is None
    assert store.newest_cache_entry("app", "deps", "deps-").key == "deps-2"
    assert store.newest_cache_entry("app", "deps", "other-") is None
    assert store.newest_cache_entry("app", "deps", "deps_") is None   # no LIKE wildcards


def test_secrets_are_kept_as_tokens_only(store, tmp_path):
    with pytest.raises(ValueError, match="encrypted secret tokens only"):
        store.put_secret("db", "hunter2")
    store.put_secret("db", "fernet-scrypt-v1:abc")
    store.put_secret("db", "fernet-scrypt-v1:def")
    assert store.get_secret_token("db") == "fernet-scrypt-v1:def"
    assert store.secret_names() == ["db"]
    assert store.delete_secret("db") and store.get_secret_token("db") is None


def test_roles_hold_users(store):
    assert store.grant_role("ops", "carol")
    assert not store.grant_role("ops", "carol")
    store.grant_role("ops", "dave")
    assert store.role_members("ops") == ["carol", "dave"]
    assert store.roles() == {"ops": ["carol", "dave"]}
    assert store.revoke_role("ops", "carol")
    assert store.role_members("ops") == ["dave"]


def test_store_commits_with_synchronous_normal(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    with sqlite3.connect(tmp_path / "store.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_recorded_transitions_read_back_like_core_writes(store):
    """On SQLite `record` writes through the driver: timestamps and JSON must come back as
    the same values, in the same stored form Core uses (read here untyped, as stored)."""
    from sqlalchemy import text

    from datetime import datetime, timezone

    run = new_run(store)
    step = store.step_runs(run.id)[0]
    at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    store.record(steps=[(step.id, {"finished_at": at, "outputs": {"V": "1", "n": [1, True]},
                                   "status": "succeeded"})])
    store.update_run(run.id, finished_at=at)               # the Core path
    again = store.get_step_run(step.id)
    assert (again.finished_at, again.outputs) == (at, {"V": "1", "n": [1, True]})
    with store._engine.connect() as connection:
        by_driver = connection.execute(text("SELECT finished_at FROM step_runs WHERE id = :id"),
                                       {"id": step.id}).scalar_one()
        by_core = connection.execute(text("SELECT finished_at FROM runs WHERE id = :id"),
                                     {"id": run.id}).scalar_one()
    assert by_driver == by_core


def test_text_holding_nul_is_recorded_on_both_databases(store, backend):
    """PostgreSQL text cannot hold NUL: there it becomes U+FFFD (as in log lines), in JSON it is
    kept escaped; the write never fails on it."""
    run = store.create_run("app", trigger="manual", user="a\0b", definition={"x": "a\0b"},
                           tasks=TASKS)
    step = store.step_runs(run.id)[0]
    store.record(steps=[(step.id, {"error": "bad\0error", "outputs": {"k": "v\0w"}})])
    replaced = "\0" if backend == "sqlite" else "\ufffd"
    assert store.find_run("app", run.number).user == f"a{replaced}b"
    assert store.find_run("app", run.number).definition == {"x": "a\0b"}
    again = store.step_runs(run.id)[0]
    assert (again.error, again.outputs) == (f"bad{replaced}error", {"k": "v\0w"})
