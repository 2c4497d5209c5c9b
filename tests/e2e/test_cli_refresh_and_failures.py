"""Refresh and failed applies through the CLI.

Refresh reads the real objects (the recorder's JSON file), so a change made behind flowplan's back
shows in the next plan; `--no-refresh` plans from the state alone. A resource whose provider fails
is reported as a diagnostic, what depends on it is skipped, what succeeded stays in the state, the
lock is released, and the next apply finishes the job.
"""

from __future__ import annotations

import json

from cli_workspace import assert_ok

CONFIG = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    acr_namespace "other" {
      instance_id = "cri-456"
      name        = "other"
    }
"""


def edit_objects(workspace, change) -> None:
    data = json.loads(workspace.objects_path.read_text())
    change(data["objects"])
    workspace.objects_path.write_text(json.dumps(data))


def test_plan_recreates_an_object_deleted_outside_flowplan(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    edit_objects(workspace, lambda objects: objects.pop("acr_repository.app"))

    out = assert_ok(run_flowplan("plan")).stdout
    assert "  # acr_repository.app will be created" in out
    assert "(create because it no longer exists (deleted outside flowplan))" in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out
    assert [c["name"] for c in workspace.calls("read") if c["type"] == "acr_repository"]

    workspace.clear_calls()
    stale = assert_ok(run_flowplan("plan", "--no-refresh")).stdout
    assert "No changes." in stale
    assert workspace.calls("read") == []

    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "acr_repository.app" in workspace.objects()
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout


def test_plan_reverts_an_attribute_changed_outside_flowplan(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    edit_objects(workspace, lambda objects: objects["acr_namespace.other"].update(
        default_visibility="public"))

    out = assert_ok(run_flowplan("plan")).stdout
    assert "  # acr_namespace.other will be updated in-place" in out
    assert '~ default_visibility = "public" -> "private"' in out


def test_failed_resource_skips_its_dependents_and_keeps_what_succeeded(workspace,
                                                                      run_flowplan):
    workspace.write(CONFIG)
    failing = {"FLOWPLAN_RECORDER_FAIL": "acr_namespace.team"}
    failed = run_flowplan("apply", "--auto-approve", env=failing)
    assert failed.code == 1, str(failed)
    assert "error: Failed to create acr_namespace.team" in failed.stderr
    assert "main.hcl:1:1" in failed.stderr
    assert "The recorder was told to fail acr_namespace.team" in failed.stderr
    assert "acr_repository.app: skipped because acr_namespace.team failed" in failed.stderr
    assert "Apply complete!" not in failed.stdout
    assert workspace.state_addresses() == ["acr_namespace.other"]
    assert [c["name"] for c in workspace.calls("apply_start")
            if c["type"] == "acr_repository"] == []
    assert not workspace.lock_path.exists(), "a failed apply must release the lock"

    done = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in done.stdout
    assert sorted(workspace.state_addresses()) == ["acr_namespace.other",
                                                   "acr_namespace.team", "acr_repository.app"]


def test_apply_without_changes_says_so_and_writes_nothing(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    serial = workspace.state()["serial"]
    workspace.clear_calls()
    again = assert_ok(run_flowplan("apply"))       # nothing to approve: no prompt
    assert "No changes. Your configuration matches the state." in again.stdout
    assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in again.stdout
    assert "Enter a value" not in again.stdout
    assert workspace.state()["serial"] == serial
    assert workspace.calls("apply") == []


def test_corrupt_state_is_an_error_message_not_a_traceback(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    workspace.state_path.write_text("{ not json")
    for args in (("plan",), ("apply", "--auto-approve"), ("state", "list"), ("show",)):
        result = run_flowplan(*args)
        assert result.code == 1, str(result)
        assert "is not valid JSON" in result.stderr
        assert "state.json.backup" in result.stderr
