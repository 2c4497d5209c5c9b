"""`flowplan team new|select|list|delete`: the teams of a config directory (flowplan.teams).

Every command that reads the state or the store works for the selected team: `$FLOWPLAN_TEAM`,
else the one `team select` wrote to `.flowplan/team`, else `default`.
"""

from __future__ import annotations

import json

import typer

from flowplan.cli.app import EXIT_OK, OPTIONS, app, exit_with, out, run_guarded

team_app = typer.Typer(help="Teams: separate state, store rows and variable values "
                            "(NAME.fpvars) in one config directory.", no_args_is_help=True)
app.add_typer(team_app, name="team")

NameArgument = typer.Argument(..., help="The team's name: lower-case letters, digits, _ and -, "
                                        "at most 63 characters.")


@team_app.command("new")
def team_new(name: str = NameArgument) -> None:
    """Create a team in this config directory and select it."""
    def body() -> int:
        from flowplan import teams

        path = teams.create_team(OPTIONS.directory, name)
        teams.select_team(OPTIONS.directory, name)
        out(f"Created team {name} ({path}) and selected it.")
        return EXIT_OK
    exit_with(run_guarded(body))


@team_app.command("select")
def team_select(name: str = NameArgument) -> None:
    """Select the team the commands in this config directory work for (written to
    .flowplan/team; $FLOWPLAN_TEAM overrides it)."""
    def body() -> int:
        import os

        from flowplan import teams

        teams.select_team(OPTIONS.directory, name)
        override = os.environ.get(teams.TEAM_ENV, "").strip()
        note = (f" (${teams.TEAM_ENV}={override} overrides it in this shell)"
                if override and override != name else "")
        out(f"Selected team {name}{note}.")
        return EXIT_OK
    exit_with(run_guarded(body))


@team_app.command("list")
def team_list(json_output: bool = typer.Option(False, "--json", help="Print JSON for "
                                               "scripts.")) -> None:
    """List the teams of this config directory; `*` marks the selected one."""
    def body() -> int:
        from flowplan import teams

        selected = teams.selected_team(OPTIONS.directory, must_exist=False)
        known = teams.known_teams(OPTIONS.directory)
        if json_output:
            out(json.dumps([{"name": name, "selected": name == selected} for name in known],
                           indent=2))
            return EXIT_OK
        lines = [f"{'*' if name == selected else ' '} {name}" for name in known]
        if selected not in known:
            lines.append(f"(selected: {selected}, which does not exist here: "
                         f"`flowplan team new {selected}`)")
        out("\n".join(lines))
        return EXIT_OK
    exit_with(run_guarded(body))


@team_app.command("delete")
def team_delete(name: str = NameArgument,
                force: bool = typer.Option(False, "--force", help="Delete the team even though "
                                           "its state holds resources or its store holds runs: "
                                           "they are forgotten, not destroyed.")) -> None:
    """Delete a team: its state, its rows in the store and its directory. Refuses team
    default, the selected team, and a team with resources or runs (unless --force)."""
    def body() -> int:
        from flowplan import engine

        deleted = engine.delete_team(OPTIONS.directory, name, force=force)
        held = f" (forgot {deleted.resources} resources and {deleted.runs} runs)" \
            if deleted.resources or deleted.runs else ""
        out(f"Deleted team {name}{held}.")
        return EXIT_OK
    exit_with(run_guarded(body))
