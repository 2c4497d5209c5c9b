"""The built-in flowplan provider against a real SQLite store in tmp_path."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from flowplan.providers import (
    ApplyRequest,
    ConfigureRequest,
    ImportRequest,
    PlanRequest,
    Provider,
    ReadRequest,
    ValidateRequest,
)
from flowplan.store import Store
from flowplan_providers.flowplan import FlowplanProvider, pipeline_content_hash

UNKNOWN = {"$unknown": "known after apply"}

PIPELINE = {
    "source": "source.app",
    "stage": {
        "build": {
            "task": {
                "package": {
                    "step": {
                        "mvn": {"type": "java_build", "command": "mvn -B package -DskipTests"},
                    },
                },
            },
        },
    },
}
SCHEDULE = {"pipeline": "pipeline.app", "cron": "0 2 * * *", "timezone": "Asia/Seoul"}
GROUP = {"environment": "daily",
         "host": {"web1": {"connection": "local", "labels": {"rack": "a1"}}}}


@pytest.fixture
def provider(tmp_path):
    made = FlowplanProvider()
    assert made.configure(ConfigureRequest(config={}, working_dir=str(tmp_path),
                                           settings={"store": "sqlite:///.flowplan/flowplan.db"}))\
        == []
    yield made
    made.close()


def plan(provider, type_, name, config, prior=None):
    response = provider.plan(PlanRequest(type=type_, name=name, prior=prior, config=config))
    assert response.diagnostics == ()
    return response


def apply(provider, type_, name, planned, prior=None):
    response = provider.apply(ApplyRequest(type=type_, name=name, prior=prior, planned=planned))
    assert response.diagnostics == ()
    return response.state


def create(provider, type_, name, config):
    return apply(provider, type_, name, plan(provider, type_, name, config).planned)


def read(provider, type_, name, state):
    response = provider.read(ReadRequest(type=type_, name=name, state=state))
    assert response.diagnostics == ()
    return response.state


def test_provider_implements_the_protocol_and_declares_its_schema():
    provider = FlowplanProvider()
    assert isinstance(provider, Provider)
    schema = provider.schema()
    assert schema.name == provider.name == "flowplan"
    assert schema.resource("pipeline").computed == ("id", "content_hash")
    assert schema.resource("schedule").computed == ("id",)
    assert schema.resource("schedule").force_new == ("pipeline",)
    assert schema.resource("deployment_group").computed == ("id", "host_keys", "ecs_instances")
    assert schema.reads == ("alicloud",)


def test_schema_hands_over_the_block_models_of_pipeline_schedule_and_deployment_group():
    from flowplan.config.schema import Pipeline, fields_of

    schema = FlowplanProvider().schema()
    assert schema.resource("pipeline").model is Pipeline
    schedule = fields_of(schema.resource("schedule").model)
    assert schedule["cron"].required and schedule["pipeline"].ref.type == "pipeline"
    assert schedule["timezone"].default == "UTC"
    group = fields_of(schema.resource("deployment_group").model)
    assert group["environment"].required
    assert group["host"].nested is not None and group["ecs"].nested.labels == 0


def test_store_opens_lazily_under_the_config_directory(tmp_path, provider):
    provider.validate(ValidateRequest("schedule", "nightly", SCHEDULE))
    plan(provider, "pipeline", "app", PIPELINE)
    assert not (tmp_path / ".flowplan").exists()

    create(provider, "pipeline", "app", PIPELINE)
    assert (tmp_path / ".flowplan" / "flowplan.db").is_file()


def test_default_store_is_under_dot_flowplan(tmp_path):
    provider = FlowplanProvider()
    provider.configure(ConfigureRequest(config={}, working_dir=str(tmp_path), settings={}))
    create(provider, "deployment_group", "daily", GROUP)
    provider.close()
    assert (tmp_path / ".flowplan" / "flowplan.db").is_file()


def test_configure_refuses_a_store_url_that_is_not_a_string(tmp_path):
    diagnostics = FlowplanProvider().configure(
        ConfigureRequest(config={}, working_dir=str(tmp_path), settings={"store": UNKNOWN}))
    assert [d.attribute for d in diagnostics] == ["store"]


def test_plan_of_a_new_pipeline_has_unknown_id_and_the_hash_of_its_definition(provider):
    planned = plan(provider, "pipeline", "app", PIPELINE).planned
    assert planned == {**PIPELINE, "id": UNKNOWN, "content_hash": pipeline_content_hash(PIPELINE)}


def test_plan_keeps_the_prior_id(provider):
    state = create(provider, "pipeline", "app", PIPELINE)
    planned = plan(provider, "pipeline", "app", PIPELINE, prior=state).planned
    assert planned == state


def test_pipeline_register_update_delete_round_trip(tmp_path, provider):
    state = create(provider, "pipeline", "app", PIPELINE)
    assert state["id"] == "1"
    assert state["content_hash"] == pipeline_content_hash(PIPELINE)
    assert read(provider, "pipeline", "app", state) == state

    changed = {**PIPELINE, "source": "source.other"}
    updated = apply(provider, "pipeline", "app",
                    plan(provider, "pipeline", "app", changed, prior=state).planned, prior=state)
    assert updated["id"] == state["id"]
    assert updated["source"] == "source.other"
    assert read(provider, "pipeline", "app", state) == updated

    assert apply(provider, "pipeline", "app", None, prior=updated) is None
    assert read(provider, "pipeline", "app", updated) is None
    assert apply(provider, "pipeline", "app", None, prior=updated) is None  # already gone: fine


def test_content_hash_changes_when_a_nested_step_attribute_changes(provider):
    state = create(provider, "pipeline", "app", PIPELINE)
    changed = {**PIPELINE, "stage": {"build": {"task": {"package": {"step": {
        "mvn": {"type": "java_build", "command": "mvn -B package"}}}}}}}

    same = plan(provider, "pipeline", "app", PIPELINE, prior=state).planned
    different = plan(provider, "pipeline", "app", changed, prior=state).planned

    assert same["content_hash"] == state["content_hash"]
    assert different["content_hash"] != state["content_hash"]


def test_content_hash_is_unknown_while_the_definition_holds_unknown_values(provider):
    config = {**PIPELINE, "image": {"$unknown": "known after apply"}}
    assert plan(provider, "pipeline", "app", config).planned["content_hash"] == UNKNOWN


def test_sensitive_values_reach_the_store_as_markers_only(tmp_path, provider):
    config = {**PIPELINE, "token": {"$sensitive": "sha256:00:abc"}}
    provider.apply(ApplyRequest("pipeline", "app", prior=None,
                                planned=plan(provider, "pipeline", "app", config).planned,
                                config={**PIPELINE, "token": "hunter2"}))
    provider.close()  # checkpoint the WAL into the database file
    raw = (tmp_path / ".flowplan" / "flowplan.db").read_bytes()
    assert b"sha256:00:abc" in raw
    assert b"hunter2" not in raw


def test_refresh_after_the_row_is_deleted_behind_flowplans_back_returns_none(tmp_path, provider):
    state = create(provider, "pipeline", "app", PIPELINE)
    with sqlite3.connect(tmp_path / ".flowplan" / "flowplan.db") as raw:
        raw.execute("DELETE FROM pipelines WHERE name = 'app'")
    assert read(provider, "pipeline", "app", state) is None


def test_refresh_shows_a_change_made_behind_flowplans_back(tmp_path, provider):
    state = create(provider, "schedule", "nightly", SCHEDULE)
    with Store.open(f"sqlite:///{tmp_path}/.flowplan/flowplan.db") as store:
        store.register_schedule("nightly", "pipeline.app", "0 5 * * *", "Asia/Seoul",
                                {**SCHEDULE, "cron": "0 5 * * *"})
    assert read(provider, "schedule", "nightly", state) == {**state, "cron": "0 5 * * *"}


def test_schedule_round_trip_without_timezone_keeps_the_config_shape(provider):
    config = {"pipeline": "pipeline.app", "cron": "@daily"}
    state = create(provider, "schedule", "nightly", config)
    assert state == {**config, "id": "1"}
    assert read(provider, "schedule", "nightly", state) == state


def test_schedule_asks_for_replacement_on_pipeline_and_expects_a_new_id(provider):
    state = create(provider, "schedule", "nightly", SCHEDULE)

    moved = plan(provider, "schedule", "nightly", {**SCHEDULE, "pipeline": "pipeline.web"},
                 prior=state)
    assert moved.requires_replace == ("pipeline",)
    assert moved.planned["id"] == UNKNOWN

    retimed = plan(provider, "schedule", "nightly", {**SCHEDULE, "cron": "0 3 * * *"},
                   prior=state)
    assert retimed.planned["id"] == state["id"]


def test_schedule_replace_is_delete_then_create(provider):
    state = create(provider, "schedule", "nightly", SCHEDULE)
    planned = plan(provider, "schedule", "nightly", {**SCHEDULE, "pipeline": "pipeline.web"},
                   prior=state).planned

    assert apply(provider, "schedule", "nightly", None, prior=state) is None
    replaced = apply(provider, "schedule", "nightly", planned, prior=None)

    assert replaced["pipeline"] == "pipeline.web"
    assert replaced["id"] != state["id"]
    assert read(provider, "schedule", "nightly", replaced) == replaced


def test_deployment_group_round_trip_keeps_hosts(provider):
    state = create(provider, "deployment_group", "daily", GROUP)
    assert read(provider, "deployment_group", "daily", state) == {**GROUP, "id": state["id"],
                                                                  "host_keys": {}}

    staging = {**GROUP, "environment": "staging"}
    updated = apply(provider, "deployment_group", "daily",
                    plan(provider, "deployment_group", "daily", staging, prior=state).planned,
                    prior=state)
    assert read(provider, "deployment_group", "daily", updated)["environment"] == "staging"


def test_import_by_name_reads_the_registered_attributes(provider):
    state = create(provider, "pipeline", "app", PIPELINE)
    imported = provider.import_resource(ImportRequest("pipeline", "app", id="app"))
    assert imported.diagnostics == ()
    assert imported.state == state


def test_import_of_a_missing_name_is_a_diagnostic(provider):
    imported = provider.import_resource(ImportRequest("pipeline", "app", id="app"))
    assert imported.state is None
    assert "No pipeline named 'app'" in imported.diagnostics[0].summary


def test_import_id_must_be_the_block_label(provider):
    create(provider, "pipeline", "app", PIPELINE)
    imported = provider.import_resource(ImportRequest("pipeline", "web", id="app"))
    assert imported.state is None
    assert imported.diagnostics[0].severity == "error"


@pytest.mark.parametrize("config, attribute, detail", [
    ({**SCHEDULE, "cron": "61 2 * * *"}, "cron", "not a valid cron expression"),
    ({**SCHEDULE, "cron": "every night"}, "cron", "not a valid cron expression"),
    ({**SCHEDULE, "timezone": "Mars/Olympus"}, "timezone", "not a known IANA time zone"),
    ({**SCHEDULE, "timezone": "../etc/passwd"}, "timezone", "not a known IANA time zone"),
    ({"pipeline": "pipeline.app"}, "cron", "must be a cron expression"),
    ({**SCHEDULE, "cron": 5}, "cron", "must be a cron expression"),
])
def test_validate_reports_bad_cron_and_timezone_on_the_attribute(provider, config, attribute,
                                                                  detail):
    diagnostics = provider.validate(ValidateRequest("schedule", "nightly", config))
    assert [d.attribute for d in diagnostics] == [attribute]
    assert detail in diagnostics[0].detail


@pytest.mark.parametrize("config", [
    SCHEDULE,
    {"pipeline": "pipeline.app", "cron": "*/5 * * * *"},
    {**SCHEDULE, "cron": UNKNOWN, "timezone": {"$unknown": "known at run time"}},
    {**SCHEDULE, "pipeline": UNKNOWN},
])
def test_validate_accepts_good_schedules_and_skips_markers(provider, config):
    assert provider.validate(ValidateRequest("schedule", "nightly", config)) == []


def test_validate_refuses_computed_attributes_and_unknown_types(provider):
    [computed] = provider.validate(ValidateRequest("pipeline", "app", {**PIPELINE, "id": "7"}))
    assert computed.attribute == "id"
    [unknown] = provider.validate(ValidateRequest("webhook", "push", {}))
    assert "no resource type 'webhook'" in unknown.summary


def test_store_newer_than_flowplan_is_a_diagnostic_not_a_traceback(tmp_path, provider):
    create(provider, "pipeline", "app", PIPELINE)
    provider.close()
    with sqlite3.connect(tmp_path / ".flowplan" / "flowplan.db") as raw:
        raw.execute("UPDATE flowplan_meta SET value = '99'")
    response = provider.read(ReadRequest("pipeline", "app", state={"id": "1"}))
    assert response.state == {"id": "1"}
    assert "newer than" in response.diagnostics[0].detail


def test_two_threads_apply_different_pipelines_at_once(provider):
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def apply_pipeline(name: str) -> None:
        planned = plan(provider, "pipeline", name, {**PIPELINE, "source": f"source.{name}"}).planned
        barrier.wait()  # both reach the first use of the store together
        try:
            results[name] = provider.apply(ApplyRequest("pipeline", name, None, planned))
        except BaseException as error:  # noqa: BLE001 - reported by the assertions below
            results[name] = error

    threads = [threading.Thread(target=apply_pipeline, args=(name,)) for name in ("app", "web")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {name: response.diagnostics for name, response in results.items()} == \
        {"app": (), "web": ()}
    assert {results["app"].state["id"], results["web"].state["id"]} == {"1", "2"}
    for name in ("app", "web"):
        assert read(provider, "pipeline", name, results[name].state)["source"] == f"source.{name}"
