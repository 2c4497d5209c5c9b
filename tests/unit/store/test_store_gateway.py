"""Registering, reading, listing and deleting pipelines, schedules and deployment groups."""

from __future__ import annotations

import pytest

from tests.support.threads import at_once

from flowplan.store import Store
from flowplan.values import Sensitive


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def test_register_pipeline_inserts_then_updates_in_place(store):
    created = store.register_pipeline("app", {"stage": {"test": {}}}, "h1")
    updated = store.register_pipeline("app", {"stage": {"build": {}}}, "h2")

    assert updated.id == created.id
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert store.get_pipeline("app") == updated
    assert store.get_pipeline("app").definition == {"stage": {"build": {}}}
    assert store.get_pipeline("app").content_hash == "h2"


def test_registering_the_same_pipeline_again_keeps_updated_at(store):
    first = store.register_pipeline("app", {"a": [1, 2]}, "h1")
    again = store.register_pipeline("app", {"a": [1, 2]}, "h1")
    assert again == first


def test_delete_pipeline_reports_whether_one_was_there(store):
    store.register_pipeline("app", {}, "h")
    assert store.delete_pipeline("app") is True
    assert store.get_pipeline("app") is None
    assert store.delete_pipeline("app") is False


def test_list_pipelines_is_ordered_by_name(store):
    for name in ("web", "api", "batch"):
        store.register_pipeline(name, {}, name)
    assert [p.name for p in store.list_pipelines()] == ["api", "batch", "web"]


def test_schedule_round_trip(store):
    definition = {"pipeline": "pipeline.app", "cron": "0 2 * * *", "timezone": "Asia/Seoul"}
    created = store.register_schedule("nightly", "pipeline.app", "0 2 * * *", "Asia/Seoul",
                                      definition)
    assert (created.pipeline, created.cron, created.timezone) == \
        ("pipeline.app", "0 2 * * *", "Asia/Seoul")

    updated = store.register_schedule("nightly", "pipeline.app", "0 3 * * *", "Asia/Seoul",
                                      {**definition, "cron": "0 3 * * *"})
    assert updated.id == created.id
    assert store.get_schedule("nightly").cron == "0 3 * * *"
    assert [s.name for s in store.list_schedules()] == ["nightly"]
    assert store.delete_schedule("nightly") is True
    assert store.list_schedules() == []


def test_deployment_group_round_trip_keeps_hosts(store):
    hosts = {"host": {"web1": {"address": "127.0.0.5", "user": "admin"}}}
    created = store.register_deployment_group("daily", "daily", {"environment": "daily", **hosts})
    assert store.get_deployment_group("daily") == created
    assert created.definition["host"]["web1"]["address"] == "127.0.0.5"

    updated = store.register_deployment_group("daily", "staging", {"environment": "staging"})
    assert (updated.id, updated.environment) == (created.id, "staging")
    assert store.delete_deployment_group("daily") is True
    assert store.get_deployment_group("daily") is None


def test_records_do_not_share_the_callers_definition(store):
    definition = {"stage": {"test": {"task": {}}}}
    record = store.register_pipeline("app", definition, "h")
    definition["stage"]["test"]["task"]["new"] = {}
    record.definition["mutated"] = True
    assert store.get_pipeline("app").definition == {"stage": {"test": {"task": {}}}}


@pytest.mark.parametrize("bad, where", [
    ({"secret": Sensitive("hunter2")}, ".secret"),
    ({"paths": ("a", "b")}, ".paths"),
    ({"stage": [{"tags": {"x"}}]}, ".stage[0].tags"),
    ({"ratio": float("nan")}, ".ratio"),
    ({1: "numeric key"}, "."),
])
def test_register_refuses_a_definition_that_is_not_json_data(store, bad, where):
    with pytest.raises(ValueError, match=r"JSON data only") as raised:
        store.register_pipeline("app", bad, "h")
    assert where in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert store.get_pipeline("app") is None


def test_register_accepts_sensitive_and_unknown_markers(store):
    definition = {"secret": {"$sensitive": "sha256:aa:bb"},
                  "url": {"$unknown": "known after apply"}}
    assert store.register_pipeline("app", definition, "h").definition == definition


def test_threads_register_different_pipelines_at_once(store):
    def register(index: int) -> None:
        for round_ in range(5):
            store.register_pipeline(f"p{index}", {"round": round_}, f"h{round_}")

    assert at_once(register, 8) == []
    assert {p.name: p.definition for p in store.list_pipelines()} == \
        {f"p{i}": {"round": 4} for i in range(8)}


def test_threads_register_the_same_pipeline_at_once_leave_one_row(store):
    assert at_once(lambda index: store.register_pipeline("app", {"writer": index},
                                                         f"h{index}"), 6) == []
    assert len(store.list_pipelines()) == 1


def test_register_tells_true_from_one(store):
    store.register_pipeline("app", {"incremental": 1}, "h")
    store.register_pipeline("app", {"incremental": True}, "h")
    assert store.get_pipeline("app").definition["incremental"] is True


def test_a_deleted_and_registered_again_row_gets_a_new_id(store):
    first = store.register_schedule("nightly", "pipeline.app", "@daily", "UTC", {})
    store.delete_schedule("nightly")
    again = store.register_schedule("nightly", "pipeline.app", "@daily", "UTC", {})
    assert again.id != first.id
