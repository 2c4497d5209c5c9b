"""Teams in the store (schema version 9): a store opened for a team reads and writes that team's
rows only, on SQLite and PostgreSQL; an older store's rows become team `default` on upgrade."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from flowplan.store import Revisions, StepPlan, Store, TaskPlan
from flowplan.store.schema import utc_now

TASKS = (TaskPlan("build", 0, "compile", 0, (StepPlan("one", "command", 0),)),)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def new_run(store: Store, pipeline: str = "app"):
    return store.create_run(pipeline, trigger="manual", user="alice", definition={"stages": {}},
                            tasks=TASKS)


def test_two_teams_register_the_same_names_apart(teams):
    default, blue = teams
    default.register_pipeline("app", {"who": "default"}, "h1")
    blue.register_pipeline("app", {"who": "blue"}, "h2")
    default.register_schedule("nightly", "pipeline.app", "0 3 * * *", "UTC", {"n": 1})
    blue.register_deployment_group("web", "prod", {"hosts": []})
    assert default.get_pipeline("app").definition == {"who": "default"}
    assert blue.get_pipeline("app").definition == {"who": "blue"}
    assert [s.name for s in default.list_schedules()] == ["nightly"]
    assert blue.list_schedules() == [] and default.list_deployment_groups() == []
    assert blue.delete_pipeline("app")
    assert blue.get_pipeline("app") is None
    assert default.get_pipeline("app").definition == {"who": "default"}


def test_each_team_numbers_its_runs_from_one_and_lists_its_own(teams):
    default, blue = teams
    assert [new_run(default).number for _ in range(2)] == [1, 2]
    assert new_run(blue).number == 1
    assert [r.ref for r in default.list_runs()] == ["app#2", "app#1"]
    assert [(r.ref, r.team) for r in blue.list_runs()] == [("app#1", "blue")]
    assert blue.find_run("app", 2) is None


def test_a_team_cannot_read_another_teams_run_or_what_it_holds(teams):
    default, blue = teams
    run = new_run(blue)
    step = blue.step_runs(run.id)[0]
    blue.add_log_chunks([dict(run_id=run.id, step_run_id=step.id, first_seq=1, line_count=1,
                              at=1.0, stream="stdout", text="secret build output")])
    blue.add_approval(run.id, stage="build", user="bob", decision="approve")
    blue.put_artifact(run.id, "app.jar", path="/x", size=1, sha256="0" * 64)
    blue.plan_deploy_hosts(run.id, step.id, [("web1", 1, "queued", None)])
    assert [c.text for c in blue.log_chunks(run.id)] == ["secret build output"]

    assert default.get_run(run.id) is None and default.run_status(run.id) is None
    assert default.task_runs(run.id) == [] and default.step_runs(run.id) == []
    assert default.get_step_run(step.id) is None
    assert default.log_chunks(run.id) == [] and list(default.log_lines(run.id)) == []
    assert default.approvals(run.id) == [] and default.approval_count(run.id) == 0
    assert default.artifacts(run.id) == [] and default.get_artifact(run.id, "app.jar") is None
    assert default.deploy_hosts(run.id) == []


def test_a_team_cannot_act_on_another_teams_run(teams):
    default, blue = teams
    run = new_run(blue)
    with pytest.raises(KeyError):
        default.add_approval(run.id, stage="build", user="mallory", decision="approve")
    with pytest.raises(KeyError):
        default.put_artifact(run.id, "evil", path="/x", size=1, sha256="0" * 64)
    with pytest.raises(KeyError):
        default.claim_run(run.id, 1, "h", lambda _run: False)
    assert default.update_run(run.id, status="canceled") is False
    assert default.release_run(run.id, 1, status="canceled") is None
    assert default.interrupt_run(run.id, "gone") == []
    assert blue.get_run(run.id).status == "queued"
    assert blue.approvals(run.id) == [] and blue.artifacts(run.id) == []


def test_caches_deliveries_and_schedule_ticks_are_per_team(teams):
    default, blue = teams
    assert default.add_cache_entry("app", "m2", "k1", path="/a", size=1, sha256="0" * 64)
    assert blue.find_cache_entry("app", "m2", "k1") is None
    assert blue.add_cache_entry("app", "m2", "k1", path="/b", size=1, sha256="1" * 64)
    assert blue.find_cache_entry("app", "m2", "k1").path == "/b"
    default.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1",
                            once=True)
    blue.record_delivery("push", outcome="accepted", status=202, delivery_id="d-1", once=True)
    assert [d.delivery_id for d in blue.list_deliveries()] == ["d-1"]
    assert len(default.list_deliveries()) == 1
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    default.put_schedule_tick("nightly", last_fired_at=when, last_note="default's")
    assert blue.get_schedule_tick("nightly") is None
    blue.put_schedule_tick("nightly", last_fired_at=when, last_note="blue's")
    assert default.get_schedule_tick("nightly").last_note == "default's"


def test_membership_of_teams(teams):
    default, blue = teams
    default.add_user("alice", HASH)
    assert default.add_team_member("blue", "alice") is True
    assert default.add_team_member("blue", "alice") is False
    assert blue.is_team_member("blue", "alice") and not blue.is_team_member("default", "alice")
    assert default.user_teams("alice") == ["blue"] and default.team_members("blue") == ["alice"]
    with pytest.raises(KeyError):
        default.add_team_member("blue", "nobody")
    with pytest.raises(ValueError, match="not a team name"):
        default.add_team_member("Blue!", "alice")
    assert default.remove_team_member("blue", "alice") and default.user_teams("alice") == []
    default.add_team_member("blue", "alice")
    default.delete_user("alice")
    assert default.team_members("blue") == []


def test_forgetting_a_team_removes_its_rows_alone(teams):
    default, blue = teams
    kept = new_run(default)
    gone = new_run(blue)
    blue.register_pipeline("app", {}, "h")
    default.register_pipeline("app", {}, "h")
    assert default.count_team_runs("blue") == 1
    assert default.forget_team("blue") == 1
    assert blue.list_runs() == [] and blue.list_pipelines() == []
    assert blue.for_team("blue").task_runs(gone.id) == []
    assert default.get_run(kept.id) is not None and default.get_pipeline("app") is not None


def test_a_store_opened_for_every_team_reads_runs_by_id_and_creates_nothing(store_url, teams):
    _default, blue = teams
    run = new_run(blue)
    with Store.open(store_url, team=None) as every:
        assert every.get_run(run.id).team == "blue"
        assert [t.task for t in every.task_runs(run.id)] == ["compile"]
        with pytest.raises(ValueError, match="for_team"):
            new_run(every)
        assert every.for_team(run.team).find_run("app", 1).id == run.id


@pytest.mark.parametrize("name", ["", "Blue", "-x", "a" * 64, "a/b", "a.auto", None])
def test_a_store_is_not_opened_for_a_name_that_is_no_team(store_url, name):
    with pytest.raises(ValueError, match="not a team name"):
        Store.open(store_url, team=name if name is not None else 5)


def test_a_version_7_store_upgrades_with_its_rows_in_team_default(new_store_url):
    url = new_store_url()
    with Store.open(url, revisions=Revisions(target=7)) as old:
        now = utc_now()
        with old._write_engine.begin() as connection:     # as flowplan 7 wrote them
            for name in ("app", "gone"):
                connection.execute(text(
                    "INSERT INTO pipelines (name, definition, content_hash, created_at, "
                    "updated_at) VALUES (:name, '{}', 'h', :now, :now)"),
                    {"name": name, "now": now})
            connection.execute(text("DELETE FROM pipelines WHERE name = 'gone'"))
            connection.execute(text(
                "INSERT INTO runs (pipeline, number, status, \"trigger\", variables, definition, "
                "options, created_at) VALUES ('app', 1, 'succeeded', 'manual', '{}', '{}', "
                "'{}', :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO task_runs (run_id, stage, stage_index, task, position, status, "
                "attempt, failure_allowed) SELECT id, 's', 0, 't', 0, 'succeeded', 1, false "
                "FROM runs"))
            connection.execute(text(
                "INSERT INTO deliveries (webhook, sender, event, delivery_id, once_key, outcome,"
                " status, reason, run_id, received_at) SELECT 'push', 'github', 'push', 'd-1', "
                "'d-1', 'accepted', 202, '', id, :now FROM runs"), {"now": now})
            connection.execute(text(
                "INSERT INTO schedule_ticks (schedule, last_fired_at, updated_at) "
                "VALUES ('nightly', :now, :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO users (name, password_hash, created_at) VALUES ('alice', :h, :now)"),
                {"h": HASH, "now": now})
    with Store.open(url) as store:
        assert store.schema_version >= 9                   # today's code: the latest
        run = store.find_run("app", 1)
        assert run.team == "default" and [t.task for t in store.task_runs(run.id)] == ["t"]
        assert store.list_deliveries()[0].run == "app#1"
        assert store.get_schedule_tick("nightly") is not None
        assert store.user_teams("alice") == ["default"]
        assert [p.name for p in store.list_pipelines()] == ["app"]
        assert store.register_pipeline("new", {}, "h").id == 3     # the deleted id 2 stays used
        blue = store.for_team("blue")
        assert blue.find_run("app", 1) is None and blue.list_deliveries() == []
        assert new_run(blue).number == 1
