"""Plan as data: counts, round trips through dicts and plan files, and refusing unknown files."""

import json

import pytest

from flowplan.plan import Action, AttributeChange, Plan, ResourceChange


def change(address: str, action: Action, before=None, after=None, **extra) -> ResourceChange:
    type_, name = address.split(".")
    return ResourceChange(address=address, type=type_, name=name, provider="flowplan",
                          action=action, reason=f"{action.value} for a test", before=before,
                          after=after, **extra)


def sample_plan() -> Plan:
    return Plan(
        changes=(
            change("acr_repository.app", Action.REPLACE,
                   before={"namespace": "team", "name": "app"},
                   after={"namespace": "ops", "name": "app", "id": {"$unknown": "known after apply"}},
                   attribute_changes=(AttributeChange("namespace", "team", "ops", True),),
                   dependencies=("acr_namespace.ops",)),
            change("pipeline.app", Action.UPDATE,
                   before={"stages": {"build": {"paths": ["a"]}}},
                   after={"stages": {"build": {"paths": ["a", "b"]}},
                          "token": {"$sensitive": "sha256:00:ff"},
                          "ref": {"$deferred": "var.ref", "sensitive": False}},
                   attribute_changes=(AttributeChange("stages.build.paths[1]", None, "b", False),)),
            change("pipeline.new", Action.CREATE, after={"name": "new"}),
            change("schedule.old", Action.DELETE, before={"cron": "0 2 * * *"}),
            change("webhook.push", Action.NOOP, before={"events": ["push"]}, after={"events": ["push"]}),
        ),
        state_lineage="5d2a0c6e-lineage",
        state_serial=7,
        destroy=False,
        created_at="2024-05-01T12:00:00Z",
        config_dir="/srv/delivery",
    )


def test_counts_replacement_as_one_add_and_one_destroy():
    assert sample_plan().counts == (2, 1, 2)


def test_plan_of_only_noops_has_no_changes():
    plan = Plan(changes=(change("webhook.push", Action.NOOP, {"a": 1}, {"a": 1}),),
                state_lineage="l", state_serial=1, destroy=False,
                created_at="2024-05-01T12:00:00Z", config_dir=".")
    assert not plan.has_changes
    assert plan.counts == (0, 0, 0)
    assert sample_plan().has_changes


def test_plan_round_trips_through_a_dict():
    plan = sample_plan()
    assert Plan.from_dict(plan.to_dict()) == plan
    assert json.loads(json.dumps(plan.to_dict())) == plan.to_dict()


def test_plan_round_trips_through_a_plan_file(tmp_path):
    plan = sample_plan()
    path = tmp_path / "plan.json"
    plan.save(path)
    loaded = Plan.load(path)
    assert loaded == plan
    assert loaded.changes[0].action is Action.REPLACE
    assert isinstance(loaded.changes[0].attribute_changes, tuple)
    assert json.loads(path.read_text())["flowplan_plan"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_plan_file_is_refused_when_written_by_a_newer_flowplan(tmp_path):
    path = tmp_path / "plan.json"
    sample_plan().save(path)
    document = json.loads(path.read_text())
    document["flowplan_plan"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="newer flowplan"):
        Plan.load(path)


@pytest.mark.parametrize("content", ['{"changes": []}', "[]", "not json"])
def test_file_that_is_not_a_plan_is_refused(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="not a flowplan plan file"):
        Plan.load(path)
