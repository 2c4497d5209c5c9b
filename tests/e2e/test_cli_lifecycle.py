"""End to end through the `flowplan` command: validate, plan, apply, change, destroy.

Every test drives the installed CLI in a subprocess against inline HCL. The pipeline, schedule and
deployment group go into the real SQLite store; the ACR namespace and repository and the webhook
go through the recorder provider (tests/support/recorder_provider.py), whose call log shows the
order in which apply touched them.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from cli_workspace import Workspace, applied_workspace, assert_ok, copy_applied

SECRET = "hook-s3cr3t-7f1c9a"

CONFIG = """
    variable "hook_secret" {
      type      = string
      sensitive = true
    }

    pipeline "app" {
      description = "build and ship the app"
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
        address = "10.0.0.1"
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
      secret   = var.hook_secret
    }
"""

ADDRESSES = ["acr_namespace.team", "acr_repository.app", "deployment_group.daily",
             "pipeline.app", "schedule.nightly", "webhook.push"]


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def index_of(lines: list[str], text: str) -> int:
    matches = [i for i, line in enumerate(lines) if line == text]
    assert len(matches) == 1, f"expected exactly one line {text!r} in:\n" + "\n".join(lines)
    return matches[0]


def registered_pipeline(workspace) -> dict:
    """The definition the store holds for the only registered pipeline."""
    with sqlite3.connect(workspace.store_path) as db:
        (definition,) = db.execute("select definition from pipelines").fetchone()
    return json.loads(definition)


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory) -> Workspace:
    """CONFIG applied once; tests copy it rather than applying again."""
    return applied_workspace(tmp_path_factory.mktemp("applied"), CONFIG,
                             env={"FP_VAR_hook_secret": SECRET})


@pytest.fixture
def applied(workspace: Workspace, applied_template: Workspace) -> Workspace:
    """A workspace in which CONFIG has been applied (a copy of the template)."""
    return copy_applied(workspace, applied_template)


# -- the round trip ----------------------------------------------------------------------------

def test_validate_plan_apply_then_plan_again_shows_no_changes(workspace, run_flowplan):
    workspace.write(CONFIG)
    workspace.env["FP_VAR_hook_secret"] = SECRET

    validated = assert_ok(run_flowplan("validate"))
    assert "Success! The configuration is valid (6 resources)." in validated.stdout
    assert not workspace.state_path.exists(), "validate must not write state"

    planned = assert_ok(run_flowplan("plan"))
    for address in ADDRESSES:
        assert f"  # {address} will be created" in planned.stdout
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in planned.stdout
    assert workspace.calls("apply") == [], "plan must not apply anything"

    applied = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert applied.stdout.rstrip().endswith(
        "Apply complete! Resources: 6 added, 0 changed, 0 destroyed.")
    assert sorted(workspace.state_addresses()) == ADDRESSES

    # The repository names its namespace: the namespace was created (finished) first.
    calls = [(c["method"], f'{c["type"]}.{c["name"]}') for c in workspace.calls()
             if c["method"] in ("apply_start", "apply")]
    assert calls.index(("apply", "acr_namespace.team")) < \
        calls.index(("apply_start", "acr_repository.app"))
    assert sorted(a for m, a in calls if m == "apply") == \
        ["acr_namespace.team", "acr_repository.app", "webhook.push"]
    # The schedule and the webhook start only after their pipeline is registered.
    progress = lines_of(applied.stderr)
    pipeline_done = next(i for i, line in enumerate(progress)
                         if line.startswith("pipeline.app: Creation complete"))
    assert pipeline_done < index_of(progress, "schedule.nightly: Creating...")
    assert pipeline_done < index_of(progress, "webhook.push: Creating...")
    # The repository's namespace was handed over resolved.
    assert workspace.objects()["acr_repository.app"]["namespace"] == "team"

    again = assert_ok(run_flowplan("plan"))
    assert "No changes. Your configuration matches the state." in again.stdout
    assert "to add" not in again.stdout


def test_apply_registers_pipeline_schedule_and_deployment_group_in_the_store(applied):
    with sqlite3.connect(applied.store_path) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master "
                                               "where type = 'table'")}
        dumped = "\n".join(str(row) for table in sorted(tables)
                           for row in db.execute(f'select * from "{table}"'))
    assert "app" in dumped and "0 2 * * *" in dumped and "10.0.0.1" in dumped


# -- changes -----------------------------------------------------------------------------------

def test_plan_shows_old_and_new_value_of_a_changed_nested_step_attribute(applied, run_flowplan):
    applied.write(CONFIG.replace('run  = "mvn -B package"',
                                 'run  = "mvn -B package -DskipTests"'))
    planned = assert_ok(run_flowplan("plan"))
    out = planned.stdout
    assert "  # pipeline.app will be updated in-place" in out
    assert ('      ~ stages.build.tasks.package.steps.mvn.run = "mvn -B package" -> '
            '"mvn -B package -DskipTests"') in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out

    applied_now = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied_now.stdout
    step = registered_pipeline(applied)["stages"]["build"]["tasks"]["package"]["steps"]["mvn"]
    assert step["run"] == "mvn -B package -DskipTests"
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout


def test_plan_replaces_repository_when_its_name_changes(applied, run_flowplan):
    applied.write(CONFIG.replace('name      = "app"', 'name      = "app-v2"'))
    out = assert_ok(run_flowplan("plan")).stdout
    assert "  # acr_repository.app must be replaced" in out
    assert "  # (replace because name changed)" in out
    assert '-/+ resource "acr_repository" "app" {' in out
    assert '~ name = "app" -> "app-v2" # forces replacement' in out
    assert "(known after apply)" in out
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in out

    old_id = applied.objects()["acr_repository.app"]["id"]
    done = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "Apply complete! Resources: 1 added, 0 changed, 1 destroyed." in done.stdout
    actions = [c["action"] for c in applied.calls("apply")]
    assert actions == ["delete", "create"]
    assert applied.objects()["acr_repository.app"]["id"] != old_id
    assert applied.objects()["acr_repository.app"]["name"] == "app-v2"


def test_plan_deletes_a_resource_whose_block_was_removed(applied, run_flowplan):
    start = CONFIG.index('    deployment_group "daily"')
    end = CONFIG.index('    acr_namespace "team"')
    applied.write(CONFIG[:start] + CONFIG[end:])
    out = assert_ok(run_flowplan("plan")).stdout
    assert "  # deployment_group.daily will be destroyed" in out
    assert "  # (delete because no longer in config)" in out
    assert '  - resource "deployment_group" "daily" {' in out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in out

    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "deployment_group.daily" not in applied.state_addresses()
    with sqlite3.connect(applied.store_path) as db:
        dumped = "\n".join(str(row) for (table,) in db.execute(
            "select name from sqlite_master where type = 'table'")
            for row in db.execute(f'select * from "{table}"'))
    assert "10.0.0.1" not in dumped


def test_replace_option_replaces_an_unchanged_resource(applied, run_flowplan):
    out = assert_ok(run_flowplan("plan", "--replace", "webhook.push")).stdout
    assert "  # webhook.push must be replaced" in out
    assert "  # (replace as requested)" in out
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in out

    old_id = applied.objects()["webhook.push"]["id"]
    assert_ok(run_flowplan("apply", "--auto-approve", "--replace", "webhook.push"))
    assert [c["action"] for c in applied.calls("apply")] == ["delete", "create"]
    assert applied.objects()["webhook.push"]["id"] != old_id


def test_target_plans_only_the_target_and_what_it_depends_on(workspace, run_flowplan):
    workspace.write(CONFIG)
    workspace.env["FP_VAR_hook_secret"] = SECRET
    out = assert_ok(run_flowplan("plan", "--target", "acr_repository.app")).stdout
    headlines = sorted(line.strip() for line in lines_of(out) if line.strip().startswith("# ")
                       and line.strip().endswith("will be created"))
    assert headlines == ["# acr_namespace.team will be created",
                         "# acr_repository.app will be created"]
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in out

    assert_ok(run_flowplan("apply", "--auto-approve", "--target", "webhook.push"))
    assert sorted(workspace.state_addresses()) == ["pipeline.app", "webhook.push"]


def test_target_of_an_unknown_address_is_an_error(applied, run_flowplan):
    result = run_flowplan("plan", "--target", "webhook.nope")
    assert result.code == 1
    assert "webhook.nope" in result.stderr


def test_destroy_removes_everything_dependents_first(applied, run_flowplan):
    result = assert_ok(run_flowplan("destroy", "--auto-approve"))
    assert "Destroy complete! Resources: 0 added, 0 changed, 6 destroyed." in result.stdout
    assert applied.state()["resources"] == []
    assert applied.objects() == {}

    deletes = [f'{c["type"]}.{c["name"]}' for c in applied.calls("apply")]
    assert deletes.index("acr_repository.app") < deletes.index("acr_namespace.team")
    progress = lines_of(result.stderr)
    for dependent, dependency in [("acr_repository.app", "acr_namespace.team"),
                                  ("schedule.nightly", "pipeline.app"),
                                  ("webhook.push", "pipeline.app")]:
        done = next(i for i, line in enumerate(progress)
                    if line.startswith(f"{dependent}: Destruction complete"))
        assert done < index_of(progress, f"{dependency}: Destroying..."), result.stderr

    with sqlite3.connect(applied.store_path) as db:
        for table in ("pipelines", "schedules", "deployment_groups"):
            assert db.execute(f'select count(*) from "{table}"').fetchone()[0] == 0, table

    assert "No changes." in assert_ok(run_flowplan("plan", "--destroy")).stdout



def test_destroy_of_a_target_destroys_what_depends_on_it_too(applied, run_flowplan):
    result = assert_ok(run_flowplan("destroy", "--auto-approve", "--target",
                                    "acr_namespace.team"))
    assert "Destroy complete! Resources: 0 added, 0 changed, 2 destroyed." in result.stdout
    assert sorted(applied.state_addresses()) == ["deployment_group.daily", "pipeline.app",
                                                 "schedule.nightly", "webhook.push"]
    assert [f'{c["type"]}.{c["name"]}' for c in applied.calls("apply")] == [
        "acr_repository.app", "acr_namespace.team"]


def test_saved_destroy_plan_applies_as_a_destroy(applied, run_flowplan, tmp_path):
    plan_file = tmp_path / "destroy.plan"
    planned = assert_ok(run_flowplan("plan", "--destroy", "--out", str(plan_file))).stdout
    assert "Plan: 0 to add, 0 to change, 6 to destroy." in planned
    assert "(delete because destroy was requested)" in planned
    assert applied.calls("apply") == []

    done = assert_ok(run_flowplan("apply", str(plan_file)))
    assert "Resources: 0 added, 0 changed, 6 destroyed." in done.stdout
    assert applied.state()["resources"] == []
    assert applied.objects() == {}

# -- exit codes, saved plans, approval ---------------------------------------------------------

def test_detailed_exitcode_is_0_without_changes_2_with_changes_and_1_on_error(applied,
                                                                            run_flowplan):
    assert run_flowplan("plan", "--detailed-exitcode").code == 0

    applied.write(CONFIG.replace('cron     = "0 2 * * *"', 'cron     = "0 3 * * *"'))
    changed = run_flowplan("plan", "--detailed-exitcode")
    assert changed.code == 2, str(changed)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in changed.stdout

    applied.write(CONFIG + '\nschedule "broken" {\n  pipeline = pipeline.nope\n}\n')
    broken = run_flowplan("plan", "--detailed-exitcode")
    assert broken.code == 1, str(broken)
    assert "error" in broken.stderr


def test_apply_of_a_saved_plan_applies_exactly_that_plan(applied, run_flowplan, tmp_path):
    plan_file = tmp_path / "change.plan"
    applied.write(CONFIG.replace('name      = "app"', 'name      = "app-v2"'))
    saved = assert_ok(run_flowplan("plan", "--out", str(plan_file)))
    assert "Saved the plan to:" in saved.stdout
    assert plan_file.exists()

    # The config moves on after the plan: apply PLANFILE still does what the plan said.
    applied.write(CONFIG.replace('name      = "app"', 'name      = "app-v2"')
                  .replace('environment = "daily"', 'environment = "nightly"'))
    done = assert_ok(run_flowplan("apply", str(plan_file)))
    assert "Apply complete! Resources: 1 added, 0 changed, 1 destroyed." in done.stdout
    assert "deployment_group.daily: Modifying..." not in done.stderr
    assert [(c["type"], c["action"]) for c in applied.calls("apply")] == [
        ("acr_repository", "delete"), ("acr_repository", "create")]
    groups = {r["address"]: r for r in applied.state()["resources"]}
    assert groups["deployment_group.daily"]["attributes"]["environment"] == "daily"


def test_apply_refuses_a_saved_plan_once_the_state_changed(applied, run_flowplan, tmp_path):
    plan_file = tmp_path / "change.plan"
    applied.write(CONFIG.replace('name      = "app"', 'name      = "app-v2"'))
    assert_ok(run_flowplan("plan", "--out", str(plan_file)))
    serial = applied.state()["serial"]

    applied.write(CONFIG.replace('cron     = "0 2 * * *"', 'cron     = "0 4 * * *"'))
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert applied.state()["serial"] > serial
    applied.clear_calls()

    stale = run_flowplan("apply", str(plan_file))
    assert stale.code == 1, str(stale)
    assert "Saved plan is stale" in stale.stderr
    assert applied.calls("apply") == []


def test_apply_asks_for_yes_and_cancels_on_anything_else(workspace, run_flowplan):
    workspace.write(CONFIG)
    workspace.env["FP_VAR_hook_secret"] = SECRET

    refused = run_flowplan("apply", input="no\n")
    assert "Do you want to perform these actions?" in refused.stdout
    assert "Only 'yes' will be accepted to approve." in refused.stdout
    assert "Apply cancelled." in refused.stdout
    assert refused.code != 0
    assert not workspace.lock_path.exists(), "a cancelled apply must release the lock"
    assert not workspace.state_path.exists() or workspace.state()["resources"] == []
    assert workspace.calls("apply") == []
    assert workspace.objects() == {}

    accepted = assert_ok(run_flowplan("apply", input="yes\n"))
    assert "Apply complete! Resources: 6 added, 0 changed, 0 destroyed." in accepted.stdout
    assert sorted(workspace.state_addresses()) == ADDRESSES


def test_destroy_asks_for_yes_too(applied, run_flowplan):
    refused = run_flowplan("destroy", input="\n")
    assert "Do you really want to destroy all resources?" in refused.stdout
    assert "Destroy cancelled." in refused.stdout
    assert sorted(applied.state_addresses()) == ADDRESSES


def test_state_file_has_version_serial_lineage_and_dependencies(applied):
    state = applied.state()
    assert state["version"] == 1
    assert state["serial"] >= 1
    assert len(state["lineage"]) == 36
    by_address = {r["address"]: r for r in state["resources"]}
    assert by_address["acr_repository.app"]["dependencies"] == ["acr_namespace.team"]
    assert by_address["webhook.push"]["dependencies"] == ["pipeline.app"]
    assert by_address["webhook.push"]["provider"] == "github"
    assert by_address["acr_namespace.team"]["provider"] == "alicloud"
    assert (applied.state_path.parent / "state.json.backup").exists()
    json.loads((applied.state_path.parent / "state.json.backup").read_text())


# -- replacements, and saved plans that wait on ids ------------------------------------------

ID_CONFIG = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace   = acr_namespace.team.name
      name        = "app"
      instance_id = acr_namespace.team.id
    }
"""


def test_plan_shows_id_of_a_replaced_dependency_as_known_after_apply(workspace, run_flowplan):
    workspace.write(ID_CONFIG)
    assert_ok(run_flowplan("apply", "--auto-approve"))
    workspace.write(ID_CONFIG.replace('name        = "team"', 'name        = "team-v2"'))
    old_namespace_id = workspace.objects()["acr_namespace.team"]["id"]

    planned = assert_ok(run_flowplan("plan")).stdout
    assert "  # acr_repository.app will be updated in-place" in planned
    assert f'~ instance_id = "{old_namespace_id}" -> (known after apply)' in planned

    assert_ok(run_flowplan("apply", "--auto-approve"))
    new_namespace_id = workspace.objects()["acr_namespace.team"]["id"]
    assert workspace.objects()["acr_repository.app"]["instance_id"] == new_namespace_id
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout


def test_replacing_namespace_and_repository_destroys_the_repository_first(applied,
                                                                          run_flowplan):
    applied.env["FLOWPLAN_RECORDER_FORCE_NEW"] = "name,namespace"
    applied.write(CONFIG.replace('name        = "team"', 'name        = "team-v2"'))

    out = assert_ok(run_flowplan("apply", "--auto-approve"))
    assert "Apply complete! Resources: 2 added, 0 changed, 2 destroyed." in out.stdout
    order = [(f'{c["type"]}.{c["name"]}', c["action"]) for c in applied.calls("apply")]
    assert order == [("acr_repository.app", "delete"), ("acr_namespace.team", "delete"),
                     ("acr_namespace.team", "create"), ("acr_repository.app", "create")]


PIPELINE_USES_ID = """
    acr_namespace "team" {
      instance_id = "cri-123"
      name        = "team"
    }

    acr_repository "app" {
      namespace = acr_namespace.team.name
      name      = "app"
    }

    pipeline "app" {
      variables = { REPO_ID = acr_repository.app.id }
      stage "build" {
        task "package" {
          step "push" {
            type = "command"
            run  = "docker push ${acr_repository.app.id}"
          }
        }
      }
    }
"""


def test_pipeline_using_a_repository_id_is_registered_with_the_id_and_follows_a_replacement(
        workspace, run_flowplan):
    workspace.write(PIPELINE_USES_ID)
    planned = assert_ok(run_flowplan("plan")).stdout
    assert "REPO_ID = (known after apply)" in planned
    assert "content_hash = (known after apply)" in planned

    assert_ok(run_flowplan("apply", "--auto-approve"))
    first_id = workspace.objects()["acr_repository.app"]["id"]
    definition = registered_pipeline(workspace)
    assert definition["variables"]["REPO_ID"] == first_id
    assert definition["stages"]["build"]["tasks"]["package"]["steps"]["push"]["run"] == \
        f"docker push {first_id}"
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout

    workspace.write(PIPELINE_USES_ID.replace('name      = "app"', 'name      = "app-v2"'))
    replanned = assert_ok(run_flowplan("plan")).stdout
    assert '~ variables.REPO_ID' in replanned
    assert f'"{first_id}" -> (known after apply)' in replanned
    assert_ok(run_flowplan("apply", "--auto-approve"))
    second_id = workspace.objects()["acr_repository.app"]["id"]
    assert second_id != first_id
    assert registered_pipeline(workspace)["variables"]["REPO_ID"] == second_id
    assert "No changes." in assert_ok(run_flowplan("plan")).stdout

def test_saved_plan_applies_its_own_values_even_when_they_wait_on_an_id(workspace,
                                                                        run_flowplan, tmp_path):
    plan_file = tmp_path / "ids.plan"
    workspace.write(ID_CONFIG)
    assert_ok(run_flowplan("plan", "--out", str(plan_file)))
    workspace.write(ID_CONFIG.replace('name        = "app"', 'name        = "edited-later"'))

    result = run_flowplan("apply", str(plan_file))
    # Either apply exactly the plan (name "app") or refuse it as stale; never the edited config.
    if result.code == 0:
        assert workspace.objects()["acr_repository.app"]["name"] == "app"
    else:
        assert "stale" in result.stderr.lower()
        assert workspace.calls("apply") == []


def test_plan_out_into_a_missing_directory_is_an_error_message(applied, run_flowplan, tmp_path):
    result = run_flowplan("plan", "--out", str(tmp_path / "no" / "such" / "dir" / "x.plan"),
                          traceback_ok=True)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert "x.plan" in result.stderr
