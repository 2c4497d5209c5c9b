"""Teams through the real `flowplan` command: two teams apply the same config into separate
states (`.flowplan/state.json`, `.flowplan/teams/blue/state.json`), run the same pipeline with
their own variable values (`blue.fpvars`) and keep separate run histories; `team list`,
`team select`, `$FLOWPLAN_TEAM`, and `team delete` with its refusals. The same with the state
and the store in PostgreSQL (a row of `flowplan_state` per team)."""

from __future__ import annotations

import json
import uuid

import pytest

from cli_workspace import assert_ok
from postgres import postgres_for_tests

# each test drives the real command a dozen times or more: minutes on a loaded machine
pytestmark = pytest.mark.timeout(900)

CONFIG = """
variable "greeting" {
  type    = string
  default = "hello from default"
}

pipeline "app" {
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo ${var.greeting}"
      }
    }
  }
}
"""


def runs_json(run_flowplan, team: str) -> list[dict]:
    result = assert_ok(run_flowplan("runs", "--json", env={"FLOWPLAN_TEAM": team}))
    return json.loads(result.stdout)


def test_two_teams_apply_the_same_config_into_separate_states_and_histories(workspace,
                                                                            run_flowplan):
    workspace.write(CONFIG)
    (workspace.config / "blue.fpvars").write_text('greeting = "hello from blue"\n')
    assert_ok(run_flowplan("apply", "--auto-approve"))
    created = assert_ok(run_flowplan("team", "new", "blue"))
    assert "Created team blue" in created.stdout and "selected it" in created.stdout
    listed = assert_ok(run_flowplan("team", "list"))
    assert listed.stdout.splitlines() == ["  default", "* blue"]

    assert_ok(run_flowplan("apply", "--auto-approve"))          # blue: the selected team
    blue_state = workspace.config / ".flowplan" / "teams" / "blue" / "state.json"
    default_state = workspace.config / ".flowplan" / "state.json"
    assert json.loads(blue_state.read_text())["lineage"] != \
        json.loads(default_state.read_text())["lineage"]

    assert_ok(run_flowplan("run", "app"))
    assert_ok(run_flowplan("run", "app"))
    assert_ok(run_flowplan("run", "app", env={"FLOWPLAN_TEAM": "default"}))
    blue_runs = runs_json(run_flowplan, "blue")
    default_runs = runs_json(run_flowplan, "default")
    assert sorted(r["number"] for r in blue_runs) == [1, 2]
    assert [r["number"] for r in default_runs] == [1]

    blue_log = assert_ok(run_flowplan("logs", "app#2"))
    assert "hello from blue" in blue_log.stdout
    default_log = assert_ok(run_flowplan("logs", "app#1", env={"FLOWPLAN_TEAM": "default"}))
    assert "hello from default" in default_log.stdout and "blue" not in default_log.stdout
    missing = run_flowplan("logs", "app#2", env={"FLOWPLAN_TEAM": "default"})
    assert missing.code != 0

    assert_ok(run_flowplan("team", "select", "default"))
    listed = assert_ok(run_flowplan("runs")).stdout
    assert "app#1" in listed and "app#2" not in listed


def test_team_delete_refuses_default_the_selected_team_and_a_team_holding_things(workspace,
                                                                                run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("team", "new", "blue"))
    assert_ok(run_flowplan("apply", "--auto-approve"))
    assert_ok(run_flowplan("run", "app"))

    refused = run_flowplan("team", "delete", "default")
    assert refused.code == 1 and "team default cannot be deleted" in refused.stderr
    refused = run_flowplan("team", "delete", "blue")
    assert refused.code == 1 and "is the selected team" in refused.stderr
    assert_ok(run_flowplan("team", "select", "default"))
    refused = run_flowplan("team", "delete", "blue")
    assert refused.code == 1
    assert "1 resources in its state and 1 runs in the store" in refused.stderr
    assert "--force" in refused.stderr
    assert (workspace.config / ".flowplan" / "teams" / "blue" / "state.json").exists()

    blue_workspaces = workspace.config / ".flowplan" / "workspaces" / ".teams" / "blue"
    assert (blue_workspaces / "app" / "1").is_dir()
    deleted = assert_ok(run_flowplan("team", "delete", "blue", "--force"))
    assert "forgot 1 resources and 1 runs" in deleted.stdout
    assert not (workspace.config / ".flowplan" / "teams" / "blue").exists()
    assert not blue_workspaces.exists()
    assert assert_ok(run_flowplan("team", "list")).stdout.splitlines() == ["* default"]
    again = assert_ok(run_flowplan("team", "new", "blue"))       # a fresh team of that name
    assert "Created team blue" in again.stdout
    assert runs_json(run_flowplan, "blue") == []


def test_an_empty_team_is_deleted_without_force(workspace, run_flowplan):
    workspace.write(CONFIG)
    assert_ok(run_flowplan("team", "new", "green"))
    assert_ok(run_flowplan("team", "select", "default"))
    assert "Deleted team green." in assert_ok(run_flowplan("team", "delete", "green")).stdout


def test_a_selection_naming_no_team_stops_every_command_before_it_acts(workspace, run_flowplan):
    workspace.write(CONFIG)
    for args in (("apply", "--auto-approve"), ("state", "list"), ("runs",), ("run", "app")):
        result = run_flowplan(*args, env={"FLOWPLAN_TEAM": "ghost"})
        assert result.code != 0, args
        assert "flowplan team new ghost" in result.stderr, (args, result.stderr)
    assert not (workspace.config / ".flowplan" / "state.json").exists()
    bad = run_flowplan("team", "new", "Not/A/Team")
    assert bad.code == 1 and "is not a team name" in bad.stderr
    (workspace.config / ".flowplan").mkdir(exist_ok=True)
    (workspace.config / ".flowplan" / "team").write_text("../etc\n")
    result = run_flowplan("state", "list")
    assert result.code == 1 and "names no valid team" in result.stderr


PG_SETTINGS = """
flowplan {
  store = env("FLOWPLAN_STORE_URL")
  state {
    backend = "pg"
    url     = env("FLOWPLAN_STATE_URL")
  }
}
"""


@pytest.fixture(scope="module")
def postgres_for_teams():
    with postgres_for_tests("flowplan-teams-pg-") as server:
        yield server


def test_teams_with_the_state_and_the_store_in_postgresql(postgres_for_teams, workspace,
                                                         run_flowplan):
    from flowplan.state.pg import PgStateBackend

    url = postgres_for_teams.create_database(f"teams_{uuid.uuid4().hex[:12]}")
    env = {"FLOWPLAN_STATE_URL": url, "FLOWPLAN_STORE_URL": url}
    workspace.write(PG_SETTINGS + CONFIG)
    (workspace.config / "blue.fpvars").write_text('greeting = "hello from blue"\n')
    assert_ok(run_flowplan("apply", "--auto-approve", env=env))
    assert_ok(run_flowplan("team", "new", "blue", env=env))
    assert_ok(run_flowplan("apply", "--auto-approve", env=env))
    assert_ok(run_flowplan("run", "app", env=env))
    assert_ok(run_flowplan("run", "app", env={**env, "FLOWPLAN_TEAM": "default"}))
    assert_ok(run_flowplan("run", "app", env={**env, "FLOWPLAN_TEAM": "default"}))
    default_state, blue_state = PgStateBackend(url), PgStateBackend(url, team="blue")
    try:
        assert default_state.read().lineage != blue_state.read().lineage
        assert [r.address for r in blue_state.read()] == ["pipeline.app"]
    finally:
        default_state.close()
        blue_state.close()
    blue_runs = json.loads(assert_ok(run_flowplan("runs", "--json", env=env)).stdout)
    default_runs = json.loads(assert_ok(run_flowplan(
        "runs", "--json", env={**env, "FLOWPLAN_TEAM": "default"})).stdout)
    assert [r["number"] for r in blue_runs] == [1]
    assert sorted(r["number"] for r in default_runs) == [1, 2]
    assert "hello from blue" in assert_ok(run_flowplan("logs", "app#1", env=env)).stdout
    for result in (run_flowplan("apply", "--auto-approve", env=env),):
        assert postgres_for_teams.password not in result.output

    assert_ok(run_flowplan("team", "select", "default", env=env))
    refused = run_flowplan("team", "delete", "blue", env=env)
    assert refused.code == 1 and "1 resources in its state and 1 runs" in refused.stderr
    assert_ok(run_flowplan("team", "delete", "blue", "--force", env=env))
    blue_state = PgStateBackend(url, team="blue")
    try:
        assert not blue_state.exists()
    finally:
        blue_state.close()
    assert len(json.loads(assert_ok(run_flowplan("runs", "--json", env=env)).stdout)) == 2
