"""Saved plans in-process: a plan written to a file and read back applies exactly what it says,
and is refused as stale once the state moved on (another serial or another lineage) or the
config no longer gives the values it was made from."""

from __future__ import annotations

import pytest

from flowplan.apply import StalePlanError
from flowplan.plan.model import Plan
from configs import ID_CONFIG
from inline import apply_all, inline_config, mock_of, plan_of, render_text, state_document

CONFIG = """
    deployment_group "daily" {
      environment = "daily"
      host "web1" {
        connection = "local"
        vars       = { APP_PORT = "18080" }
      }
    }

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "0 2 * * *"
    }

    pipeline "app" {
      stage "build" {
        task "package" {
          step "mvn" {
            type = "command"
            run  = "mvn -B package"
          }
        }
      }
    }

    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }
"""
RENAMED = CONFIG.replace('name      = "app"', 'name      = "app-v2"')


def saved_plan(workspace, path) -> Plan:
    plan_of(workspace).save(path)
    return Plan.load(path)


@pytest.fixture
def applied(tmp_path):
    workspace = inline_config(tmp_path / "config", CONFIG)
    apply_all(workspace)
    mock_of(workspace).clear_calls()
    return workspace


def test_apply_of_a_saved_plan_applies_exactly_that_plan(applied, tmp_path):
    workspace = inline_config(applied.directory, RENAMED, providers=applied)
    saved = saved_plan(workspace, tmp_path / "change.plan")

    # The config moves on after the plan: applying the saved plan still does what it said.
    workspace = inline_config(applied.directory, RENAMED.replace('environment = "daily"',
                                                                 'environment = "nightly"'),
                              providers=applied)
    done = apply_all(workspace, saved=saved)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (1, 0, 1)
    assert not any(line.startswith("deployment_group.daily:") for line in done.progress)
    assert mock_of(workspace).applied() == [("acr_repository.app", "delete"),
                                            ("acr_repository.app", "create")]
    group = workspace.backend.read().get("deployment_group.daily")
    assert group.attributes["environment"] == "daily"


def test_saved_plan_is_refused_once_the_state_serial_moved_on(applied, tmp_path):
    workspace = inline_config(applied.directory, RENAMED, providers=applied)
    saved = saved_plan(workspace, tmp_path / "change.plan")
    serial = state_document(workspace)["serial"]

    workspace = inline_config(applied.directory, CONFIG.replace('"0 2 * * *"', '"0 4 * * *"'),
                              providers=applied)
    apply_all(workspace)
    assert state_document(workspace)["serial"] > serial
    mock_of(workspace).clear_calls()

    with pytest.raises(StalePlanError, match=r"Saved plan is stale: it was made at state serial"):
        apply_all(workspace, saved=saved)
    assert mock_of(workspace).calls_to("apply_start") == []


def test_saved_plan_is_refused_for_another_state_lineage(applied, tmp_path):
    saved = saved_plan(applied, tmp_path / "no-changes.plan")
    other = inline_config(tmp_path / "other", CONFIG)
    apply_all(other)
    assert state_document(other)["lineage"] != saved.state_lineage

    with pytest.raises(StalePlanError, match=r"it was made for state lineage "
                                             rf"{saved.state_lineage}, but the state now has"):
        apply_all(other, saved=saved)


def test_saved_plan_made_before_any_state_applies_to_no_state(tmp_path):
    workspace = inline_config(tmp_path, CONFIG)
    saved = saved_plan(workspace, tmp_path / "first.plan")
    assert saved.state_serial == 0
    done = apply_all(workspace, saved=saved)
    assert done.result.added == 5
    assert state_document(workspace)["lineage"] == saved.state_lineage


def test_saved_plan_waiting_on_an_id_never_applies_a_config_edited_later(tmp_path):
    workspace = inline_config(tmp_path / "config", ID_CONFIG)
    saved = saved_plan(workspace, tmp_path / "ids.plan")
    assert "instance_id = (known after apply)" in render_text(saved)
    workspace = inline_config(workspace.directory, ID_CONFIG.replace(
        'name        = "app"', 'name        = "edited-later"'), providers=workspace)

    # Apply re-reads the config for the id. Either it applies exactly the plan (name "app") or
    # it refuses the plan as stale before any change; never the edited name.
    try:
        apply_all(workspace, saved=saved)
    except StalePlanError as error:
        assert "stale" in str(error).lower()
        assert mock_of(workspace).calls_to("apply_start") == []
    else:
        assert mock_of(workspace).objects["acr_repository.app"]["name"] == "app"


def test_saved_plan_waiting_on_an_id_applies_with_the_id_once_known(tmp_path):
    workspace = inline_config(tmp_path / "config", ID_CONFIG)
    saved = saved_plan(workspace, tmp_path / "ids.plan")
    apply_all(workspace, saved=saved)
    objects = mock_of(workspace).objects
    assert objects["acr_repository.app"]["name"] == "app"
    assert objects["acr_repository.app"]["instance_id"] == objects["acr_namespace.team"]["id"]
