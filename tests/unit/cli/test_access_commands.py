"""`flowplan secret ...` and `flowplan role ...` in process (typer's CliRunner) act in the
selected team: each team sets, lists and removes its own secrets and grants its own roles, the
output names the team when it is not `default`, and a selected team that is no team name (path
characters) or names no team here is refused with nothing stored."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flowplan import teams
from flowplan.cli import app
from flowplan.store import Store

KEY = "correct-horse-battery-staple-operator-key"
VALUE_DEFAULT, VALUE_BLUE = "default-s3cret-value", "blue-s3cret-value"


@pytest.fixture
def config(tmp_path):
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "main.hcl").write_text("flowplan {}\n")
    teams.create_team(directory, "blue")
    return directory


@pytest.fixture
def flowplan(config, monkeypatch):
    monkeypatch.delenv(teams.TEAM_ENV, raising=False)
    monkeypatch.delenv("FLOWPLAN_SECRET_KEY_FILE", raising=False)
    runner = CliRunner()

    def invoke(*args: str, team: str = "default", input: str | None = None):
        result = runner.invoke(app, ["-C", str(config), *args], input=input,
                               env={teams.TEAM_ENV: team, "FLOWPLAN_SECRET_KEY": KEY})
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exception
        return result

    return invoke


def store_of(config, team: str = "default") -> Store:
    return Store.open("sqlite:///.flowplan/flowplan.db", base_dir=config, team=team)


def test_each_team_sets_and_lists_its_own_secrets(flowplan, config):
    stored = flowplan("secret", "set", "deploy_token", input=VALUE_DEFAULT)
    assert stored.exit_code == 0 and stored.stdout == "Stored secret deploy_token (encrypted).\n"
    stored = flowplan("secret", "set", "deploy_token", team="blue", input=VALUE_BLUE)
    assert stored.exit_code == 0, stored.output
    assert stored.stdout == "Stored secret deploy_token (encrypted) in team blue.\n"
    assert flowplan("secret", "set", "only_blue", team="blue", input="x").exit_code == 0

    listed = flowplan("secret", "list", team="blue")
    assert listed.stdout.splitlines()[0] == "Secrets in team blue:"
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == \
        ["deploy_token", "only_blue"]
    listed = flowplan("secret", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["deploy_token"]
    with store_of(config) as default, store_of(config, "blue") as blue:
        assert default.get_secret_token("deploy_token") != blue.get_secret_token("deploy_token")
        assert default.get_secret_token("only_blue") is None
    for result in (stored, listed):
        assert VALUE_DEFAULT not in result.output and VALUE_BLUE not in result.output


def test_removing_a_secret_only_another_team_has_is_an_error_and_keeps_it(flowplan, config):
    flowplan("secret", "set", "db", input=VALUE_DEFAULT)
    refused = flowplan("secret", "rm", "db", team="blue")
    assert refused.exit_code == 1
    assert "no secret named db in team blue" in refused.output
    assert "secret list" in refused.output                     # what to do
    with store_of(config) as default:
        assert default.secret_names() == ["db"]
    assert flowplan("secret", "list", team="blue").stdout == "No secrets in team blue.\n"
    removed = flowplan("secret", "rm", "db")
    assert removed.exit_code == 0 and removed.stdout == "Deleted secret db.\n"


def test_each_team_grants_and_lists_its_own_roles(flowplan, config):
    granted = flowplan("role", "grant", "ops", "bob", team="blue")
    assert granted.exit_code == 0 and granted.stdout == "bob is in role ops in team blue: bob.\n"
    granted = flowplan("role", "grant", "ops", "alice")
    assert granted.stdout == "alice is in role ops: alice.\n"
    listed = flowplan("role", "list", "ops", team="blue")
    assert listed.stdout.splitlines()[0] == "Role ops in team blue:"
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["bob"]
    refused = flowplan("role", "revoke", "ops", "alice", team="blue")
    assert refused.exit_code == 1 and "alice is not in role ops in team blue" in refused.output
    with store_of(config) as default, store_of(config, "blue") as blue:
        assert default.role_members("ops") == ["alice"] and blue.role_members("ops") == ["bob"]
    revoked = flowplan("role", "revoke", "ops", "bob", team="blue")
    assert revoked.stdout == "Removed bob from role ops in team blue.\n"
    assert flowplan("role", "list", "ops", team="blue").stdout == \
        "Role ops has no members in team blue.\n"


@pytest.mark.parametrize("team", ["../default", "blue/../default", "/etc", "blue\\x", ".."])
def test_a_selected_team_with_path_characters_is_refused_and_nothing_is_stored(
        flowplan, config, team):
    for args in (("secret", "set", "db"), ("role", "grant", "ops", "mallory"),
                 ("secret", "list"), ("role", "list", "ops")):
        refused = flowplan(*args, team=team, input=VALUE_BLUE)
        assert refused.exit_code == 1, args
        assert "is not a team name" in refused.output
        assert VALUE_BLUE not in refused.output
    with store_of(config) as default, store_of(config, "blue") as blue:
        assert default.secret_names() == blue.secret_names() == []
        assert default.roles() == blue.roles() == {}
    assert sorted(p.name for p in (config / ".flowplan" / "teams").iterdir()) == ["blue"]


def test_a_selected_team_that_does_not_exist_here_is_refused(flowplan, config):
    refused = flowplan("secret", "set", "db", team="green", input=VALUE_BLUE)
    assert refused.exit_code == 1
    assert "flowplan team new green" in refused.output
    with store_of(config, "green") as green:
        assert green.secret_names() == []
