"""Plan and apply in-process: create, update in place, replace and delete, each with its reason.

The pipeline, schedule and deployment group go through the real flowplan provider into a real
SQLite store; the ACR namespace and repository and the webhook through MockProvider, whose call
log shows the order in which apply touched them.
"""

from __future__ import annotations

import re

import json
import sqlite3

from configs import APP_STACK, APP_STACK_ADDRESSES
from inline import (actions_of, apply_all, change_of, inline_config, mock_of, plan_of,
                    render_text, state_document)

SECRET = "hook-s3cr3t-7f1c9a"


VARIABLES = {"hook_secret": SECRET}


def load(tmp_path, config=APP_STACK, providers=None):
    return inline_config(tmp_path, config, variables=VARIABLES, providers=providers)


def applied(tmp_path):
    workspace = load(tmp_path)
    apply_all(workspace)
    mock_of(workspace).clear_calls()
    return workspace


def store_dump(workspace) -> str:
    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master "
                                               "where type = 'table'")]
        return "\n".join(str(row) for table in sorted(tables)
                         for row in db.execute(f'select * from "{table}"'))


def registered_pipeline(workspace) -> dict:
    """The definition the store holds for the only registered pipeline."""
    with sqlite3.connect(workspace.directory / ".flowplan" / "flowplan.db") as db:
        (definition,) = db.execute("select definition from pipelines").fetchone()
    return json.loads(definition)


# -- the round trip ----------------------------------------------------------------------------

def test_first_plan_creates_every_resource_and_touches_nothing(tmp_path):
    workspace = load(tmp_path)
    plan = plan_of(workspace)

    assert actions_of(plan) == {address: "create" for address in APP_STACK_ADDRESSES}
    assert {c.reason for c in plan.changes} == {"create because not in state"}
    text = render_text(plan)
    for address in APP_STACK_ADDRESSES:
        assert f"  # {address} will be created" in text
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in text
    assert mock_of(workspace).calls_to("apply_start") == [], "plan must not apply anything"
    assert not workspace.backend.path.exists(), "plan must not write state"


def test_apply_creates_dependencies_first_and_hands_over_their_values(tmp_path):
    workspace = load(tmp_path)
    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (6, 0, 0)
    assert sorted(r.address for r in workspace.backend.read()) == APP_STACK_ADDRESSES

    # The repository names its namespace: the namespace was created (finished) first.
    mock = mock_of(workspace)
    calls = [(c.method, c.address) for c in mock.calls if c.method in ("apply_start", "apply")]
    assert calls.index(("apply", "acr_namespace.team")) < \
        calls.index(("apply_start", "acr_repository.app"))
    assert sorted(address for address, _ in mock.applied()) == \
        ["acr_namespace.team", "acr_repository.app", "webhook.push"]
    # The schedule and the webhook start only after their pipeline is registered.
    pipeline_done = done.line_index("pipeline.app: Creation complete")
    assert pipeline_done < done.line_index("schedule.nightly: Creating...")
    assert pipeline_done < done.line_index("webhook.push: Creating...")
    # The repository's namespace was handed over resolved.
    assert mock.objects["acr_repository.app"]["namespace"] == "team"

    again = plan_of(workspace)
    assert not again.has_changes
    assert "No changes. Your configuration matches the state." in render_text(again)
    assert "to add" not in render_text(again)


def test_apply_registers_pipeline_schedule_and_deployment_group_in_the_store(tmp_path):
    dumped = store_dump(applied(tmp_path))
    assert "app" in dumped and "0 2 * * *" in dumped and "18080" in dumped


def test_state_file_has_version_serial_lineage_and_dependencies(tmp_path):
    workspace = applied(tmp_path)
    state = state_document(workspace)
    assert state["version"] == 1
    assert state["serial"] >= 1
    assert len(state["lineage"]) == 36
    by_address = {r["address"]: r for r in state["resources"]}
    assert by_address["acr_repository.app"]["dependencies"] == ["acr_namespace.team"]
    assert by_address["webhook.push"]["dependencies"] == ["pipeline.app"]
    assert by_address["webhook.push"]["provider"] == "github"
    assert by_address["acr_namespace.team"]["provider"] == "alicloud"
    backup = workspace.backend.path.parent / "state.json.backup"
    assert backup.exists()
    json.loads(backup.read_text())


# -- changes -----------------------------------------------------------------------------------

def test_plan_shows_old_and_new_value_of_a_changed_nested_step_attribute(tmp_path):
    workspace = load(tmp_path, APP_STACK.replace('run  = "mvn -B package"',
                                              'run  = "mvn -B package -DskipTests"'),
                     providers=applied(tmp_path))
    plan = plan_of(workspace)
    assert change_of(plan, "pipeline.app").reason == \
        "update because stages, content_hash changed"
    text = render_text(plan)
    assert "  # pipeline.app will be updated in-place" in text
    assert ('      ~ stages.build.tasks.package.steps.mvn.run = "mvn -B package" -> '
            '"mvn -B package -DskipTests"') in text
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text

    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (0, 1, 0)
    step = registered_pipeline(workspace)["stages"]["build"]["tasks"]["package"]["steps"]["mvn"]
    assert step["run"] == "mvn -B package -DskipTests"
    assert not plan_of(workspace).has_changes


def test_plan_replaces_repository_when_its_name_changes(tmp_path):
    workspace = applied(tmp_path)
    mock = mock_of(workspace)
    old_id = mock.objects["acr_repository.app"]["id"]
    workspace = load(tmp_path, APP_STACK.replace('name      = "app"', 'name      = "app-v2"'),
                     providers=workspace)
    plan = plan_of(workspace)
    assert change_of(plan, "acr_repository.app").reason == "replace because name changed"
    text = render_text(plan)
    assert "  # acr_repository.app must be replaced" in text
    assert "  # (replace because name changed)" in text
    assert '-/+ resource "acr_repository" "app" {' in text
    assert re.search(r'~ name +=  ?"app" -> "app-v2" # forces replacement', text)
    assert "(known after apply)" in text
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in text

    done = apply_all(workspace)
    assert (done.result.added, done.result.changed, done.result.destroyed) == (1, 0, 1)
    assert mock.applied() == [("acr_repository.app", "delete"), ("acr_repository.app", "create")]
    assert mock.objects["acr_repository.app"]["id"] != old_id
    assert mock.objects["acr_repository.app"]["name"] == "app-v2"


def test_plan_deletes_a_resource_whose_block_was_removed(tmp_path):
    start = APP_STACK.index('    deployment_group "daily"')
    end = APP_STACK.index('    acr_namespace "team"')
    workspace = load(tmp_path, APP_STACK[:start] + APP_STACK[end:], providers=applied(tmp_path))
    plan = plan_of(workspace)
    assert change_of(plan, "deployment_group.daily").reason == \
        "delete because no longer in config"
    text = render_text(plan)
    assert "  # deployment_group.daily will be destroyed" in text
    assert "  # (delete because no longer in config)" in text
    assert '  - resource "deployment_group" "daily" {' in text
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in text

    apply_all(workspace)
    assert "deployment_group.daily" not in workspace.backend.read().addresses()
    assert "18080" not in store_dump(workspace)


# -- nothing to do, or not approved ------------------------------------------------------------

def test_apply_without_changes_asks_nothing_and_writes_nothing(tmp_path):
    workspace = applied(tmp_path)
    serial = state_document(workspace)["serial"]
    asked = []
    done = apply_all(workspace, confirm=lambda plan: asked.append(plan) or True)
    assert done.result is None
    assert not done.plan.has_changes
    assert "No changes. Your configuration matches the state." in render_text(done.plan)
    assert asked == [], "nothing to approve: no question"
    assert state_document(workspace)["serial"] == serial
    assert mock_of(workspace).calls_to("apply_start") == []


def test_apply_not_approved_changes_nothing_and_releases_the_lock(tmp_path):
    workspace = load(tmp_path)
    refused = apply_all(workspace, confirm=lambda plan: False)
    assert refused.result is None and refused.plan.has_changes
    assert not workspace.backend.lock_path.exists(), "a declined apply must release the lock"
    assert not workspace.backend.path.exists() or list(workspace.backend.read()) == []
    assert mock_of(workspace).calls_to("apply_start") == []
    assert mock_of(workspace).objects == {}

    accepted = apply_all(workspace)
    assert (accepted.result.added, accepted.result.changed, accepted.result.destroyed) == \
        (6, 0, 0)
    assert sorted(workspace.backend.read().addresses()) == APP_STACK_ADDRESSES
