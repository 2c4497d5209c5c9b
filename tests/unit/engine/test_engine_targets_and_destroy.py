"""PlanOptions in-process: `targets`, `replace` and `destroy`, and saved destroy plans."""

from __future__ import annotations

import sqlite3

import pytest

from flowplan.diagnostics import DiagnosticsError
from flowplan.plan.model import Plan
from configs import APP_STACK_ADDRESSES
from inline import (actions_of, apply_all, change_of, destroy_all, inline_config, mock_of,
                    plan_of, render_problems, render_text)

CONFIG = """
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

    schedule "nightly" {
      pipeline = pipeline.app
      cron     = "0 2 * * *"
    }

    deployment_group "daily" {
      environment = "daily"
      host "web1" {
        connection = "local"
        vars       = { APP_PORT = "18080" }
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

    webhook "push" {
      pipeline = pipeline.app
    }
"""


def applied(tmp_path):
    workspace = inline_config(tmp_path, CONFIG)
    apply_all(workspace)
    mock_of(workspace).clear_calls()
    return workspace


def test_target_plans_only_the_target_and_what_it_depends_on(tmp_path):
    workspace = inline_config(tmp_path, CONFIG)
    plan = plan_of(workspace, targets=["acr_repository.app"])
    assert actions_of(plan) == {"acr_namespace.team": "create", "acr_repository.app": "create"}
    text = render_text(plan)
    headlines = sorted(line.strip() for line in text.splitlines()
                       if line.strip().startswith("# ") and line.strip().endswith("created"))
    assert headlines == ["# acr_namespace.team will be created",
                         "# acr_repository.app will be created"]
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in text

    apply_all(workspace, targets=["webhook.push"])
    assert sorted(workspace.backend.read().addresses()) == ["pipeline.app", "webhook.push"]


def test_target_of_an_unknown_address_is_a_diagnostic(tmp_path):
    workspace = applied(tmp_path)
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(workspace, targets=["webhook.nope"])
    rendered = render_problems(raised.value.diagnostics)
    assert "error: Unknown resource address" in rendered
    assert "webhook.nope is neither in the config nor in the state." in rendered


def test_replace_option_replaces_an_unchanged_resource(tmp_path):
    workspace = applied(tmp_path)
    plan = plan_of(workspace, replace=["webhook.push"])
    assert change_of(plan, "webhook.push").reason == "replace as requested"
    text = render_text(plan)
    assert "  # webhook.push must be replaced" in text
    assert "  # (replace as requested)" in text
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in text

    mock = mock_of(workspace)
    old_id = mock.objects["webhook.push"]["id"]
    apply_all(workspace, replace=["webhook.push"])
    assert mock.applied() == [("webhook.push", "delete"), ("webhook.push", "create")]
    assert mock.objects["webhook.push"]["id"] != old_id


def test_destroy_removes_everything_dependents_first(tmp_path):
    workspace = applied(tmp_path)
    done = destroy_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (0, 0, 6)
    assert {c.reason for c in done.plan.changes} == {"delete because destroy was requested"}
    assert list(workspace.backend.read()) == []
    mock = mock_of(workspace)
    assert mock.objects == {}

    deletes = [address for address, _ in mock.applied()]
    assert deletes.index("acr_repository.app") < deletes.index("acr_namespace.team")
    for dependent, dependency in [("acr_repository.app", "acr_namespace.team"),
                                  ("schedule.nightly", "pipeline.app"),
                                  ("webhook.push", "pipeline.app")]:
        assert done.line_index(f"{dependent}: Destruction complete") < \
            done.line_index(f"{dependency}: Destroying..."), done.progress

    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        for table in ("pipelines", "schedules", "deployment_groups"):
            assert db.execute(f'select count(*) from "{table}"').fetchone()[0] == 0, table

    again = plan_of(workspace, destroy=True)
    assert not again.has_changes
    assert "No changes." in render_text(again)


def test_destroy_of_a_target_destroys_what_depends_on_it_too(tmp_path):
    workspace = applied(tmp_path)
    done = destroy_all(workspace, targets=["acr_namespace.team"])
    assert (done.result.added, done.result.changed, done.result.destroyed) == (0, 0, 2)
    assert sorted(workspace.backend.read().addresses()) == [
        "deployment_group.daily", "pipeline.app", "schedule.nightly", "webhook.push"]
    assert mock_of(workspace).applied() == [("acr_repository.app", "delete"),
                                            ("acr_namespace.team", "delete")]


def test_saved_destroy_plan_applies_as_a_destroy(tmp_path):
    workspace = applied(tmp_path)
    plan_file = tmp_path / "destroy.plan"
    plan_of(workspace, destroy=True).save(plan_file)
    saved = Plan.load(plan_file)
    text = render_text(saved)
    assert "Plan: 0 to add, 0 to change, 6 to destroy." in text
    assert "(delete because destroy was requested)" in text
    assert mock_of(workspace).calls_to("apply_start") == []

    done = apply_all(workspace, saved=saved)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (0, 0, 6)
    assert list(workspace.backend.read()) == []
    assert mock_of(workspace).objects == {}
