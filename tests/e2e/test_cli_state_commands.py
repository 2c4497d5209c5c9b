"""The inspecting and editing commands through the CLI: state list/show/rm and show.

One config is applied once per module and copied for each test, so each test starts from the
same provisioned state without paying for another apply. What a plan does once a resource is
forgotten, and plan and apply with a state path set in the `flowplan {}` block, are tested
in-process in tests/unit/engine/test_engine_state.py.
"""

from __future__ import annotations

import json

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied
from configs import CUSTOM_STATE_PATH, REGISTRY_AND_PIPELINE


ADDRESSES = ["acr_namespace.team", "acr_repository.app", "pipeline.app", "schedule.nightly",
             "webhook.push"]


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    return applied_workspace(tmp_path_factory.mktemp("state-commands"), REGISTRY_AND_PIPELINE)


@pytest.fixture
def applied(workspace: Workspace, applied_template: Workspace) -> Workspace:
    return copy_applied(workspace, applied_template)


def test_state_list_prints_every_address(applied, run_flowplan):
    listed = assert_ok(run_flowplan("state", "list"))
    assert sorted(listed.stdout.split()) == ADDRESSES
    assert listed.stderr == ""


def test_state_show_prints_one_resource_and_fails_for_an_unknown_one(applied, run_flowplan):
    shown = assert_ok(run_flowplan("state", "show", "acr_repository.app")).stdout
    lines = shown.splitlines()
    assert lines[0] == "# acr_repository.app:"
    assert lines[1] == 'resource "acr_repository" "app" {'
    assert lines[-1] == "}"
    assert '    namespace   = "team"' in lines
    assert any(line.startswith("    id") and '"acr_repository-' in line for line in lines)

    missing = run_flowplan("state", "show", "acr_repository.nope")
    assert missing.code == 1
    assert "acr_repository.nope is not in the state" in missing.stderr


def test_state_rm_forgets_without_destroying(applied, run_flowplan):
    serial = applied.state()["serial"]
    removed = assert_ok(run_flowplan("state", "rm", "webhook.push"))
    assert "Removed webhook.push" in removed.stdout
    assert "webhook.push" not in applied.state_addresses()
    assert applied.state()["serial"] == serial + 1
    assert "webhook.push" in applied.objects(), "state rm must not destroy the real object"
    assert applied.calls("apply") == []
    assert not applied.lock_path.exists()

    again = run_flowplan("state", "rm", "webhook.push")
    assert again.code == 1
    assert "webhook.push is not in the state" in again.stderr


def test_show_prints_the_state_and_show_json_the_state_document(applied, run_flowplan):
    shown = assert_ok(run_flowplan("show")).stdout
    for address in ADDRESSES:
        assert f"# {address}:" in shown
    assert 'resource "schedule" "nightly" {' in shown

    document = json.loads(assert_ok(run_flowplan("show", "--json")).stdout)
    assert document["version"] == 1
    assert document["serial"] == applied.state()["serial"]
    assert document["lineage"] == applied.state()["lineage"]
    assert sorted(r["address"] for r in document["resources"]) == ADDRESSES


def test_show_of_a_saved_plan_renders_the_plan(applied, run_flowplan, tmp_path):
    plan_file = tmp_path / "saved.plan"
    applied.write(REGISTRY_AND_PIPELINE.replace('cron     = "0 2 * * *"',
                                                'cron     = "30 1 * * *"'))
    planned = assert_ok(run_flowplan("plan", "--out", str(plan_file))).stdout

    shown = assert_ok(run_flowplan("show", str(plan_file))).stdout
    assert '~ cron = "0 2 * * *" -> "30 1 * * *"' in shown
    assert shown.strip() in planned
    as_json = json.loads(assert_ok(run_flowplan("show", "--json", str(plan_file))).stdout)
    changed = [c["address"] for c in as_json["resource_changes"]
               if c["change"]["actions"] != ["no-op"]]
    assert changed == ["schedule.nightly"]

    not_a_plan = tmp_path / "not-a-plan"
    not_a_plan.write_text("{}")
    refused = run_flowplan("show", str(not_a_plan))
    assert refused.code == 1 and "not a flowplan plan file" in refused.stderr


def test_show_with_no_state_says_it_is_empty(workspace, run_flowplan):
    workspace.write(REGISTRY_AND_PIPELINE)
    shown = assert_ok(run_flowplan("show"))
    assert "The state is empty" in shown.stdout
    assert assert_ok(run_flowplan("state", "list")).stdout.strip() == ""


def test_every_command_uses_the_state_path_from_the_flowplan_block(workspace, run_flowplan):
    workspace.write(CUSTOM_STATE_PATH)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    custom = workspace.config / "custom" / "state.json"
    assert custom.exists()
    assert not workspace.state_path.exists()
    assert sorted(assert_ok(run_flowplan("state", "list")).stdout.split()) == [
        "acr_namespace.team", "acr_repository.app"]
    assert "# acr_repository.app:" in assert_ok(run_flowplan("show")).stdout
    assert_ok(run_flowplan("state", "rm", "acr_repository.app"))
    assert [r["address"] for r in json.loads(custom.read_text())["resources"]] == [
        "acr_namespace.team"]
