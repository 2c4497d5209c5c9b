"""What a team is in a config directory (flowplan.teams): names, which one is selected
($FLOWPLAN_TEAM over .flowplan/team over `default`), which exist, and whose variable values
the loader reads (`NAME.fpvars` after `*.auto.fpvars`, before --var and FP_VAR_)."""

from __future__ import annotations

import pytest

from flowplan import teams
from flowplan.config.loader import load_config


@pytest.fixture
def directory(tmp_path):
    (tmp_path / "main.hcl").write_text(
        'variable "region" {\n  default = "from-default"\n}\n'
        'variable "size" {\n  default = "s"\n}\n')
    return tmp_path


@pytest.mark.parametrize("name", ["default", "blue", "a", "team-2_x", "0", "a" * 63])
def test_valid_team_names(name):
    assert teams.check_name(name) == name


@pytest.mark.parametrize("name", ["", "Blue", "-a", "_a", "a" * 64, "a/b", "..", "a.b", "a b",
                                  "é", "a\n"])
def test_names_that_are_no_team_are_refused_saying_what_a_name_is(name):
    with pytest.raises(teams.TeamError, match="lower-case letters, digits"):
        teams.check_name(name)


def test_selection_is_the_environment_then_the_file_then_default(directory):
    assert teams.selected_team(directory, {}) == "default"
    teams.create_team(directory, "blue")
    teams.create_team(directory, "green")
    teams.select_team(directory, "blue")
    assert (directory / ".flowplan" / "team").read_text() == "blue\n"
    assert teams.selected_team(directory, {}) == "blue"
    assert teams.selected_team(directory, {"FLOWPLAN_TEAM": "green"}) == "green"
    assert teams.selected_team(directory, {"FLOWPLAN_TEAM": " "}) == "blue"
    assert teams.known_teams(directory) == ["default", "blue", "green"]


def test_a_selection_of_no_team_here_says_how_to_make_it(directory):
    with pytest.raises(teams.TeamError, match="flowplan team new ghost"):
        teams.selected_team(directory, {"FLOWPLAN_TEAM": "ghost"})
    assert teams.selected_team(directory, {"FLOWPLAN_TEAM": "ghost"}, must_exist=False) == \
        "ghost"
    with pytest.raises(teams.TeamError, match=r"\$FLOWPLAN_TEAM names no valid team"):
        teams.selected_team(directory, {"FLOWPLAN_TEAM": "../../etc"})
    with pytest.raises(teams.TeamError, match="flowplan team new ghost"):
        teams.select_team(directory, "ghost")


def test_a_team_is_created_once_private_and_default_always_exists(directory):
    path = teams.create_team(directory, "blue")
    assert path == directory / ".flowplan" / "teams" / "blue" and path.stat().st_mode & 0o077 == 0
    for name in ("blue", "default"):
        with pytest.raises(teams.TeamError, match="exists already"):
            teams.create_team(directory, name)
    (directory / ".flowplan" / "teams" / "Not-A-Team").mkdir()
    assert teams.known_teams(directory) == ["default", "blue"]


def test_a_teams_fpvars_override_auto_fpvars_and_yield_to_var_and_environment(directory):
    (directory / "a.auto.fpvars").write_text('region = "from-auto"\nsize = "m"\n')
    (directory / "blue.fpvars").write_text('region = "from-blue"\n')
    teams.create_team(directory, "blue")

    def values(team, variables=None, environ=None):
        config = load_config(directory, variables, environ or {}, team=team)
        assert not config.diagnostics.has_errors, config.diagnostics
        return {name: value.value for name, value in config.variables.items()}

    assert values("default") == {"region": "from-auto", "size": "m"}
    assert values("blue") == {"region": "from-blue", "size": "m"}
    assert values("blue", {"region": "from-var"})["region"] == "from-var"
    assert values("blue", environ={"FP_VAR_region": "from-env"})["region"] == "from-env"
    assert load_config(directory, environ={}, team="blue").team == "blue"


def test_the_loader_takes_the_selected_team_and_reports_one_that_is_not_here(directory):
    assert load_config(directory, environ={}).team == "default"
    config = load_config(directory, environ={"FLOWPLAN_TEAM": "ghost"})
    errors = [d for d in config.diagnostics.errors if d.address == "flowplan"]
    assert [d.summary for d in errors] == ["Unknown team"]
    assert "flowplan team new ghost" in errors[0].detail
