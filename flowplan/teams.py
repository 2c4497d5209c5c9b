"""Teams: tenants of one flowplan installation, as Concourse's teams ("workspace" already names
a task's directory). Each team has its own state, its own rows in the store and its own
variable values; users are members of teams.

This module holds what a team is here: its name, which one is selected, which ones exist in a
config directory, and where a team's files are. Team `default` is the layout flowplan always
had (`.flowplan/state.json`, the store's rows as they were) and always exists; another team NAME
exists once `flowplan team new NAME` made `.flowplan/teams/NAME/`, where its local state lives.
The selected team is `$FLOWPLAN_TEAM`, else the name in `.flowplan/team`, else `default`.

Opening a team's state backend and store, and deleting a team with them, is left to
`flowplan.engine`; the commands to `flowplan.cli.team`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Mapping

DEFAULT_TEAM = "default"
TEAM_ENV = "FLOWPLAN_TEAM"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SELECTION_FILE = Path(".flowplan") / "team"
TEAMS_DIRECTORY = Path(".flowplan") / "teams"
VARIABLE_FILE_SUFFIX = ".fpvars"          # NAME.fpvars: the values of team NAME
MAX_SELECTION_BYTES = 256


class TeamError(Exception):
    """A team name that is not one, or a team that does not exist here; says what to do."""


def check_name(name: str) -> str:
    """`name` when it is a valid team name; TeamError otherwise."""
    if type(name) is not str or not NAME.fullmatch(name):
        raise TeamError(f"{name!r} is not a team name: use lower-case letters, digits, _ and -, "
                        "starting with a letter or a digit, at most 63 characters")
    return name


def team_directory(directory: Path, team: str) -> Path:
    """Where team `team`'s files are (its local state): `.flowplan/teams/NAME/`."""
    return Path(directory) / TEAMS_DIRECTORY / check_name(team)


def known_teams(directory: Path) -> list[str]:
    """The teams that exist in the config directory: `default` first, then by name."""
    found = []
    root = Path(directory) / TEAMS_DIRECTORY
    if root.is_dir():
        found = sorted(entry.name for entry in root.iterdir()
                       if entry.is_dir() and NAME.fullmatch(entry.name)
                       and entry.name != DEFAULT_TEAM)
    return [DEFAULT_TEAM, *found]


def team_exists(directory: Path, team: str) -> bool:
    return team == DEFAULT_TEAM or team_directory(directory, team).is_dir()


def selected_team(directory: Path, environ: Mapping[str, str] | None = None, *,
                  must_exist: bool = True) -> str:
    """The team commands in `directory` work for: `$FLOWPLAN_TEAM`, else `.flowplan/team`,
    else `default`. TeamError when the name is not one, or (`must_exist`) names no team here."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(TEAM_ENV, "").strip()
    source = f"${TEAM_ENV}"
    if not chosen:
        path = Path(directory) / SELECTION_FILE
        try:
            with open(path, "rb") as handle:        # a name is short: never read a whole file
                chosen = handle.read(MAX_SELECTION_BYTES).decode("utf-8").strip()
        except FileNotFoundError:
            return DEFAULT_TEAM
        except (OSError, UnicodeDecodeError) as error:
            raise TeamError(f"cannot read the selected team from {path}: {error}; select one "
                            "again with `flowplan team select NAME`") from None
        source = str(SELECTION_FILE)
        if not chosen:
            return DEFAULT_TEAM
    try:
        check_name(chosen)
    except TeamError as error:
        raise TeamError(f"{source} names no valid team: {error}") from None
    if must_exist and not team_exists(directory, chosen):
        raise TeamError(f"{source} selects team {chosen!r}, which does not exist in "
                        f"{directory}: create it with `flowplan team new {chosen}`, or select "
                        "another (`flowplan team list`)")
    return chosen


def create_team(directory: Path, team: str) -> Path:
    """Make team `team` exist here (its directory, 0700); TeamError when it does already."""
    check_name(team)
    if team == DEFAULT_TEAM or team_directory(directory, team).exists():
        raise TeamError(f"team {team!r} exists already in {directory}")
    path = team_directory(directory, team)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700)
    return path


def select_team(directory: Path, team: str) -> None:
    """Write `team` to `.flowplan/team` (atomically). TeamError for a team that is not here."""
    check_name(team)
    if not team_exists(directory, team):
        raise TeamError(f"there is no team {team!r} in {directory}: create it with "
                        f"`flowplan team new {team}`")
    path = Path(directory) / SELECTION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".team.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(team + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def variable_file(directory: Path, team: str) -> Path:
    """The file of team `team`'s variable values: `NAME.fpvars` in the config directory."""
    return Path(directory) / f"{check_name(team)}{VARIABLE_FILE_SUFFIX}"
