"""Commands for the people who use `flowplan serve`: dashboard users and their API tokens.

`user add` reads the password from standard input (asked for twice, hidden, on a terminal; the
first line of a pipe) and stores only its argon2id hash (flowplan.server.auth); `--role` grants
approval roles as `flowplan role grant` does, in the selected team (roles are per team; users
are global). `token create` prints a token once; the store
keeps its hash. Every change is recorded in the store with the operating-system account that
made it and the name given with `--as` (default: the login name).
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from flowplan.cli.access import AsOption, in_team
from flowplan.cli.app import (EXIT_ERROR, EXIT_OK, OPTIONS, BadInput, app, checked, err,
                              exit_with, named, out)
from flowplan.cli.runs import guard_runs, run_service, user_name

user_app = typer.Typer(help="Users who log in to the dashboard of `flowplan serve`.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens for `flowplan serve` (Authorization: Bearer TOKEN).",
                        no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

MIN_PASSWORD_LENGTH = 8
MAX_USER_NAME = 100             # flowplan.store.users.MAX_USER_NAME
MAX_DESCRIPTION = 200           # flowplan.server.auth.MAX_DESCRIPTION


def read_password(name: str) -> str:
    """A new password for user `name` from standard input: asked for twice, hidden, on a
    terminal (both must match), else the first line. BadInput says what is wrong, never the
    password."""
    from flowplan.server.auth import MAX_PASSWORD_BYTES

    if sys.stdin is None:
        raise BadInput(f"the password of {name} is read from standard input, which is closed; "
                       "nothing stored")
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != value:
            raise BadInput("the two passwords differ; nothing stored")
        data = value.encode("utf-8", "surrogateescape")
    else:
        data = sys.stdin.buffer.readline(MAX_PASSWORD_BYTES + 2)   # never more, however long
        if data.endswith(b"\n"):
            data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
    if len(data) > MAX_PASSWORD_BYTES:
        raise BadInput(f"the password is longer than {MAX_PASSWORD_BYTES} bytes; nothing stored")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("the password is not UTF-8 text; nothing stored") from None
    if not value:
        raise BadInput("the password is empty; nothing stored")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters; "
                       "nothing stored")
    return value


def _user(value: str) -> str:
    return checked("the user name", value, limit=MAX_USER_NAME)


def _authenticator(store):
    from flowplan.server.auth import Authenticator

    return Authenticator(store)


# -- users --------------------------------------------------------------------------------------

@user_app.command("add")
def user_add(name: str = typer.Argument(..., help="The user's name (what the login form "
                                        "takes as username)."),
             role: Optional[List[str]] = typer.Option(
                 None, "--role", help="Grant this approval role too, in the selected team "
                 "(repeatable)."),
             team: Optional[List[str]] = typer.Option(
                 None, "--team", help="Make the user a member of this team (repeatable; "
                 "default: the selected team). A team's server lets in its members only."),
             by: Optional[str] = AsOption) -> None:
    """Add a dashboard user; the password is read from standard input (asked for twice on a
    terminal)."""
    def body() -> int:
        from flowplan import teams as team_names

        _user(name)
        roles = [checked("the role", item) for item in role or []]
        memberships = [team_names.check_name(item) for item in team or []] or \
            [team_names.selected_team(OPTIONS.directory)]
        for item in memberships:
            if not team_names.team_exists(OPTIONS.directory, item):
                err(f"Error: there is no team {item} in {OPTIONS.directory}; create it with "
                    f"`flowplan team new {item}`.")
                return EXIT_ERROR
        who = user_name(by)
        store = run_service().store
        if store.get_user(name) is not None:
            err(f"Error: there is already a user named {name}; change the password with "
                f"`flowplan user passwd {name}`.")
            return EXIT_ERROR
        auth = _authenticator(store)
        password_hash = auth.hash_password(read_password(name))
        try:
            store.add_user(name, password_hash, by=who)
        except ValueError as exc:           # added by someone else meanwhile
            err(f"Error: {exc}.")
            return EXIT_ERROR
        for item in roles:
            store.grant_role(item, name, by=who)
        for item in dict.fromkeys(memberships):
            store.add_team_member(item, name, by=who)
        granted = f" with roles {', '.join(roles)}" if roles else ""
        joined = list(dict.fromkeys(memberships))
        member = "" if joined == [team_names.DEFAULT_TEAM] else \
            f", member of team{'s' if len(joined) > 1 else ''} {', '.join(joined)}"
        out(f"Added user {name}{granted}{member}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@user_app.command("list")
def user_list(json_output: bool = typer.Option(False, "--json", help="Print JSON for "
                                               "scripts.")) -> None:
    """List users with their roles in the selected team, when they were added and by
    whom."""
    def body() -> int:
        from flowplan.views.users_text import render_users, users_json

        store = run_service().store
        users = store.list_users()
        by_user: dict[str, list[str]] = {}
        for role_name, members in store.roles().items():
            for member in members:
                by_user.setdefault(member, []).append(role_name)
        teams_of = {user.name: store.user_teams(user.name) for user in users}
        out(users_json(users, by_user, teams_of) if json_output
            else render_users(users, by_user, teams_of))
        return EXIT_OK
    exit_with(guard_runs(body))


@user_app.command("join")
def user_join(name: str = typer.Argument(..., help="The user."),
              team: List[str] = typer.Option(..., "--team", help="The team to join "
                                             "(repeatable)."),
              by: Optional[str] = AsOption) -> None:
    """Make a user a member of teams: a team's server lets in its members only."""
    def body() -> int:
        from flowplan import teams as team_names

        joined = [team_names.check_name(item) for item in team]
        store = run_service().store
        for item in joined:
            if not team_names.team_exists(OPTIONS.directory, item):
                err(f"Error: there is no team {item} in {OPTIONS.directory}; create it with "
                    f"`flowplan team new {item}`.")
                return EXIT_ERROR
        try:
            for item in joined:
                store.add_team_member(item, name, by=user_name(by))
        except KeyError:
            err(f"Error: there is no user {name}; add one with `flowplan user add {name}`.")
            return EXIT_ERROR
        out(f"{name} is a member of team {', '.join(store.user_teams(name))}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@user_app.command("leave")
def user_leave(name: str = typer.Argument(..., help="The user."),
               team: List[str] = typer.Option(..., "--team", help="The team to leave "
                                              "(repeatable)."),
               by: Optional[str] = AsOption) -> None:
    """Take a user out of teams (their sessions and tokens stay good for the teams left)."""
    def body() -> int:
        from flowplan import teams as team_names

        store = run_service().store
        for item in team:
            if not store.remove_team_member(team_names.check_name(item), name,
                                            by=user_name(by)):
                err(f"Error: {name} is not a member of team {item}.")
                return EXIT_ERROR
        now = store.user_teams(name)
        out(f"{name} is a member of team {', '.join(now)}." if now
            else f"{name} is a member of no team now.")
        return EXIT_OK
    exit_with(guard_runs(body))


@user_app.command("rm")
def user_rm(name: str = typer.Argument(..., help="The user to remove."),
            by: Optional[str] = AsOption) -> None:
    """Remove a user, with their API tokens and sessions."""
    def body() -> int:
        named("the user name", name)
        store = run_service().store
        if not store.delete_user(name, by=user_name(by)):
            err(f"Error: there is no user named {name}.")
            return EXIT_ERROR
        out(f"Removed user {name}, with their API tokens and sessions.")
        roles = sorted(role for role, members in store.roles().items() if name in members)
        if roles:
            err(f"{name} is still in roles {', '.join(roles)}{in_team(store)} (they also name "
                f"who may approve from the command line): `flowplan role revoke ROLE {name}` "
                "removes that.")
        return EXIT_OK
    exit_with(guard_runs(body))


@user_app.command("passwd")
def user_passwd(name: str = typer.Argument(..., help="The user whose password to change."),
                by: Optional[str] = AsOption) -> None:
    """Change a user's password (read as `user add` reads it); their sessions end."""
    def body() -> int:
        named("the user name", name)
        store = run_service().store
        if store.get_user(name) is None:
            err(f"Error: there is no user named {name}.")
            return EXIT_ERROR
        password_hash = _authenticator(store).hash_password(read_password(name))
        if not store.set_password(name, password_hash, by=user_name(by)):
            err(f"Error: there is no user named {name}.")
            return EXIT_ERROR
        out(f"Changed the password of {name}; their dashboard sessions have ended.")
        return EXIT_OK
    exit_with(guard_runs(body))


# -- API tokens ---------------------------------------------------------------------------------

@token_app.command("create")
def token_create(user: Optional[str] = typer.Argument(None, help="The user the token acts as."),
                 description: str = typer.Option("", "--description", "-d",
                                                 help="What the token is for."),
                 worker: Optional[str] = typer.Option(
                     None, "--worker", metavar="NAME",
                     help="Make a worker token for the worker NAME instead: what `flowplan "
                          "worker` on another machine reads from $FLOWPLAN_WORKER_TOKEN to move "
                          "artifacts and caches through the server; good for the worker routes "
                          "only."),
                 by: Optional[str] = AsOption) -> None:
    """Create an API token for USER (or a worker token, --worker NAME) and print it (once:
    only its hash is kept)."""
    if worker is not None:
        exit_with(guard_runs(lambda: _worker_token(user, worker, description, by)))
        return

    def body() -> int:
        if user is None:
            raise BadInput("name the USER the token acts as, or give --worker NAME for a "
                           "worker token")
        _user(user)
        if description:
            checked("--description", description, limit=MAX_DESCRIPTION)
        store = run_service().store
        if store.get_user(user) is None:
            err(f"Error: there is no user named {user}; add one with `flowplan user add "
                f"{user}`.")
            return EXIT_ERROR
        try:
            token = _authenticator(store).create_token(user, description, by=user_name(by))
        except ValueError as exc:           # removed by someone else meanwhile
            err(f"Error: {exc}.")
            return EXIT_ERROR
        out(token)
        err("This token is shown only once: flowplan keeps only its hash. Use it as "
            "`Authorization: Bearer TOKEN`; `flowplan token revoke ID` ends it.")
        return EXIT_OK
    exit_with(guard_runs(body))


def _worker_token(user: Optional[str], worker: str, description: str,
                  by: Optional[str]) -> int:
    from flowplan.executor.distributed.worker_tokens import TOKEN_VARIABLE, create_worker_token
    from flowplan.store.workers import WORKER_NAME

    if user is not None or description:
        raise BadInput("a worker token belongs to a worker, not a user: give --worker NAME "
                       "alone")
    if not WORKER_NAME.fullmatch(worker):
        raise BadInput(f"worker name {worker!r}: letters, digits, '.', '_' and '-', starting "
                       "with a letter or digit, at most 100")
    token = create_worker_token(run_service().store, worker, by=user_name(by))
    out(token)
    err(f"This token is shown only once: flowplan keeps only its hash. Give it to the worker "
        f"as {TOKEN_VARIABLE} (never on its command line); `flowplan token revoke ID` ends it.")
    return EXIT_OK


@token_app.command("list")
def token_list(user: Optional[str] = typer.Argument(None, help="Only this user's tokens."),
               json_output: bool = typer.Option(False, "--json", help="Print JSON for "
                                                "scripts.")) -> None:
    """List API tokens and worker tokens: id, user (or worker), description, created, last
    used (never the token)."""
    def body() -> int:
        from flowplan.views.users_text import render_tokens, tokens_json

        if user is not None:
            named("the user name", user)
        store = run_service().store
        tokens = [*store.list_api_tokens(user),
                  *(store.list_worker_tokens() if user is None else ())]
        out(tokens_json(tokens) if json_output else render_tokens(tokens))
        return EXIT_OK
    exit_with(guard_runs(body))


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., metavar="ID",
                                                help="The token's id (flowplan token list)."),
                 by: Optional[str] = AsOption) -> None:
    """Revoke an API token or a worker token: requests bearing it are refused from now on."""
    def body() -> int:
        named("the token id", token_id)
        if token_id.startswith(("fpt_", "fpw_")):
            raise BadInput("give the token's id (the ID column of `flowplan token list`), "
                           "not the token itself")
        store = run_service().store
        if store.delete_api_token(token_id, by=user_name(by)):
            out(f"Revoked API token {token_id}.")
        elif store.delete_worker_token(token_id, by=user_name(by)):
            out(f"Revoked worker token {token_id}.")
        else:
            err(f"Error: there is no API token with id {token_id}, nor a worker token.")
            return EXIT_ERROR
        return EXIT_OK
    exit_with(guard_runs(body))
