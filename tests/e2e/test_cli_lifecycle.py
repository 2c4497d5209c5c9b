"""End to end through the `flowplan` command: what only the command shows.

Plan and apply behaviour (actions and reasons, ordering, targets, replacements, saved plans,
staleness) is tested in-process under tests/unit/engine. Here the real CLI runs in a subprocess
for its options, prompts, exit codes and the split between stdout (plans, summaries) and stderr
(progress, errors). The pipeline, schedule and deployment group go into the real SQLite store; the
ACR namespace and repository and the webhook go through the recorder provider
(tests/support/recorder_provider.py), whose call log shows what apply touched.
"""

from __future__ import annotations

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied
from configs import APP_STACK, APP_STACK_ADDRESSES

SECRET = "hook-s3cr3t-7f1c9a"


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """APP_STACK applied once; tests copy it rather than applying again."""
    return applied_workspace(tmp_path_factory.mktemp("applied"), APP_STACK,
                             env={"FP_VAR_hook_secret": SECRET})


@pytest.fixture
def applied(workspace: Workspace, applied_template: Workspace) -> Workspace:
    """A workspace in which APP_STACK has been applied (a copy of the template)."""
    return copy_applied(workspace, applied_template)


# -- the round trip ----------------------------------------------------------------------------

def test_validate_then_apply_asks_for_yes_then_plan_shows_no_changes(workspace, run_flowplan):
    workspace.write(APP_STACK)
    workspace.env["FP_VAR_hook_secret"] = SECRET

    validated = assert_ok(run_flowplan("validate"))
    assert "Success! The configuration is valid (6 resources)." in validated.stdout
    assert not workspace.state_path.exists(), "validate must not write state"

    refused = run_flowplan("apply", input="no\n")
    for address in APP_STACK_ADDRESSES:
        assert f"  # {address} will be created" in refused.stdout
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in refused.stdout
    assert "Do you want to perform these actions?" in refused.stdout
    assert "Only 'yes' will be accepted to approve." in refused.stdout
    assert "Apply cancelled." in refused.stdout
    assert refused.code != 0
    assert not workspace.lock_path.exists(), "a cancelled apply must release the lock"
    assert not workspace.state_path.exists() or workspace.state()["resources"] == []
    assert workspace.calls("apply") == []
    assert workspace.objects() == {}

    accepted = assert_ok(run_flowplan("apply", input="yes\n"))
    assert accepted.stdout.rstrip().endswith(
        "Apply complete! Resources: 6 added, 0 changed, 0 destroyed.")
    assert sorted(workspace.state_addresses()) == APP_STACK_ADDRESSES
    # Piped, progress goes to stderr; the plan and the summary to stdout.
    assert "pipeline.app: Creation complete" in accepted.stderr
    assert "Creation complete" not in accepted.stdout
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in accepted.stdout

    again = assert_ok(run_flowplan("plan"))
    assert "No changes. Your configuration matches the state." in again.stdout
    assert "to add" not in again.stdout


def test_apply_without_changes_says_so_asks_nothing_and_writes_nothing(applied, run_flowplan):
    serial = applied.state()["serial"]
    again = assert_ok(run_flowplan("apply"))       # nothing to approve: no prompt
    assert "No changes. Your configuration matches the state." in again.stdout
    assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in again.stdout
    assert "Enter a value" not in again.stdout
    assert applied.state()["serial"] == serial
    assert applied.calls("apply") == []


# -- options -----------------------------------------------------------------------------------

def test_target_and_replace_options_reach_plan_apply_and_destroy(applied, run_flowplan):
    planned = assert_ok(run_flowplan("plan", "--target", "acr_repository.app",
                                     "--replace", "acr_repository.app"))
    assert "  # acr_repository.app must be replaced" in planned.stdout
    assert "  # (replace as requested)" in planned.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in planned.stdout
    assert "acr_repository.app: Refreshing state..." in planned.stderr
    assert "webhook.push" not in planned.output, "only the target and what it depends on"

    replaced = assert_ok(run_flowplan("apply", "--auto-approve", "--target", "webhook.push",
                                      "--replace", "webhook.push"))
    assert "Apply complete! Resources: 1 added, 0 changed, 1 destroyed." in replaced.stdout
    assert [(c["type"], c["action"]) for c in applied.calls("apply")] == [
        ("webhook", "delete"), ("webhook", "create")]

    destroyed = assert_ok(run_flowplan("destroy", "--auto-approve", "--target",
                                       "acr_namespace.team"))
    assert "Destroy complete! Resources: 0 added, 0 changed, 2 destroyed." in destroyed.stdout
    assert sorted(applied.state_addresses()) == ["deployment_group.daily", "pipeline.app",
                                                 "schedule.nightly", "webhook.push"]


def test_saved_plan_applies_without_asking_and_only_once(applied, run_flowplan, tmp_path):
    plan_file = tmp_path / "destroy.plan"
    saved = assert_ok(run_flowplan("plan", "--destroy", "--no-refresh", "--out", str(plan_file)))
    assert "Plan: 0 to add, 0 to change, 6 to destroy." in saved.stdout
    assert "(delete because destroy was requested)" in saved.stdout
    assert f"Saved the plan to: {plan_file}" in saved.stdout
    assert "Refreshing state" not in saved.output
    assert applied.calls("read") == [] and applied.calls("apply") == []

    done = assert_ok(run_flowplan("apply", str(plan_file)))      # stdin is empty: no prompt
    assert "Enter a value" not in done.stdout
    assert "Apply complete! Resources: 0 added, 0 changed, 6 destroyed." in done.stdout
    assert applied.state()["resources"] == []
    assert applied.objects() == {}
    applied.clear_calls()

    stale = run_flowplan("apply", str(plan_file))
    assert stale.code == 1, str(stale)
    assert "Saved plan is stale" in stale.stderr
    assert applied.calls("apply") == []


# -- exit codes and approval -------------------------------------------------------------------

def test_detailed_exitcode_is_0_without_changes_2_with_changes_and_1_on_error(applied,
                                                                            run_flowplan):
    assert run_flowplan("plan", "--detailed-exitcode").code == 0

    applied.write(APP_STACK.replace('cron     = "0 2 * * *"', 'cron     = "0 3 * * *"'))
    changed = run_flowplan("plan", "--detailed-exitcode")
    assert changed.code == 2, str(changed)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in changed.stdout

    applied.write(APP_STACK + '\nschedule "broken" {\n  pipeline = pipeline.nope\n}\n')
    broken = run_flowplan("plan", "--detailed-exitcode")
    assert broken.code == 1, str(broken)
    assert "error" in broken.stderr


def test_destroy_asks_for_yes_too(applied, run_flowplan):
    refused = run_flowplan("destroy", input="\n")
    assert "Do you really want to destroy all resources?" in refused.stdout
    assert "Destroy cancelled." in refused.stdout
    assert sorted(applied.state_addresses()) == APP_STACK_ADDRESSES


def test_plan_out_into_a_missing_directory_is_an_error_message(applied, run_flowplan, tmp_path):
    result = run_flowplan("plan", "--out", str(tmp_path / "no" / "such" / "dir" / "x.plan"),
                          traceback_ok=True)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert "x.plan" in result.stderr
