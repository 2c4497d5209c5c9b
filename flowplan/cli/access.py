"""Commands for secrets (kept encrypted in the store) and approval roles.

Both are per team: the commands act in the selected team (`$FLOWPLAN_TEAM`, else `flowplan team
select`), as `run` and `runs` do, and say which when it is not `default`. A team's pipelines
read its own secrets only, and a role lets its members approve in its own team only.

Every change is recorded in the store with the operating-system account that made it and the
name given with `--as` (default: the login name); `secret list` and `role list` show who set each
secret and granted each membership.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from flowplan.cli.app import (EXIT_ERROR, EXIT_OK, BadInput, app, checked, err, exit_with,
                              named, out)
from flowplan.cli.runs import guard_runs, run_service, user_name


# -- secrets and roles --------------------------------------------------------------------------

secret_app = typer.Typer(help="Secrets kept encrypted in the store (key: the file "
                         "FLOWPLAN_SECRET_KEY_FILE names, or FLOWPLAN_SECRET_KEY), per team: "
                         "these commands act in the selected team, whose pipelines alone read "
                         "its secrets.", no_args_is_help=True)
role_app = typer.Typer(help="Roles that manual_approval steps name in `roles`, per team: these "
                       "commands act in the selected team, and a role lets its members "
                       "approve that team's runs only.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")
app.add_typer(role_app, name="role")

MAX_SECRET_BYTES = 64 * 1024     # a secret reaches steps as an environment variable: Linux
                                 # takes at most 128 KiB in one


def read_secret_value(name: str) -> str:
    """The value of secret `name` from standard input (asked for, hidden, on a terminal): UTF-8
    text without NUL, at most MAX_SECRET_BYTES; BadInput says what is wrong, never the value."""
    if sys.stdin is None:
        raise BadInput(f"the value of secret {name} is read from standard input, which is "
                       "closed; nothing stored")
    if sys.stdin.isatty():
        import getpass

        data = getpass.getpass(f"Value of secret {name}: ").encode("utf-8", "surrogateescape")
    else:
        data = sys.stdin.buffer.read(MAX_SECRET_BYTES + 1)     # never more, however much comes
    if len(data) > MAX_SECRET_BYTES:
        raise BadInput(f"the value of secret {name} is longer than {MAX_SECRET_BYTES} bytes; "
                       "nothing stored")
    data = data.rstrip(b"\n")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"the value of secret {name} is not UTF-8 text; nothing stored") from None
    if "\0" in value:
        raise BadInput(f"the value of secret {name} holds a NUL character, which no environment "
                       "variable can carry; nothing stored")
    return value


AsOption = typer.Option(None, "--as", help="Who makes the change (default: you); recorded "
                        "next to the account that runs the command.")


def in_team(store) -> str:
    """` in team NAME` for a message about the store's team, when it is not `default`."""
    from flowplan.teams import DEFAULT_TEAM

    return "" if store.team == DEFAULT_TEAM else f" in team {store.team}"


@secret_app.command("set")
def secret_set(name: str = typer.Argument(..., help="The secret's name, as source credentials "
                                          "or a variable name it stands for."),
               user: Optional[str] = AsOption) -> None:
    """Store a secret of the selected team, read from standard input (or asked for, hidden,
    on a terminal)."""
    def body() -> int:
        checked("the secret name", name)
        service = run_service()
        value = read_secret_value(name)
        if not value:
            err("Error: the secret is empty; nothing stored.")
            return EXIT_ERROR
        service.set_secret(name, value, by=user_name(user))
        out(f"Stored secret {name} (encrypted){in_team(service.store)}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@secret_app.command("list")
def secret_list() -> None:
    """List the names of the selected team's secrets (never their values) and who set each
    last."""
    def body() -> int:
        from flowplan.views.run_text import render_secret_names

        store = run_service().store
        last = {change.subject: change for change in store.changes(kinds=["secret set"])}
        out(render_secret_names(store.secret_names(), last, in_team(store)))
        return EXIT_OK
    exit_with(guard_runs(body))


@secret_app.command("rm")
def secret_rm(name: str = typer.Argument(..., help="The secret to delete."),
              user: Optional[str] = AsOption) -> None:
    """Delete a secret of the selected team."""
    def body() -> int:
        named("the secret name", name)
        service = run_service()
        if not service.store.delete_secret(name, by=user_name(user)):
            err(f"Error: there is no secret named {name}{in_team(service.store)} "
                "(`flowplan secret list` lists them).")
            return EXIT_ERROR
        out(f"Deleted secret {name}{in_team(service.store)}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@role_app.command("grant")
def role_grant(role: str = typer.Argument(...), user: str = typer.Argument(...),
               by: Optional[str] = AsOption) -> None:
    """Add USER to ROLE in the selected team."""
    def body() -> int:
        checked("the role", role)
        checked("the user", user)
        service = run_service()
        service.store.grant_role(role, user, by=user_name(by))
        out(f"{user} is in role {role}{in_team(service.store)}: "
            f"{', '.join(service.store.role_members(role))}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@role_app.command("revoke")
def role_revoke(role: str = typer.Argument(...), user: str = typer.Argument(...),
                by: Optional[str] = AsOption) -> None:
    """Remove USER from ROLE in the selected team."""
    def body() -> int:
        named("the role", role)
        named("the user", user)
        service = run_service()
        if not service.store.revoke_role(role, user, by=user_name(by)):
            err(f"Error: {user} is not in role {role}{in_team(service.store)} "
                f"(`flowplan role list {role}` lists its members).")
            return EXIT_ERROR
        out(f"Removed {user} from role {role}{in_team(service.store)}.")
        return EXIT_OK
    exit_with(guard_runs(body))


@role_app.command("list")
def role_list(role: str = typer.Argument(..., help="The role whose members to list.")) -> None:
    """List a role's members in the selected team and who granted each."""
    def body() -> int:
        from flowplan.views.run_text import render_role_members

        named("the role", role)
        store = run_service().store
        grants = {change.detail: change
                  for change in store.changes(kinds=["role grant"], subject=role)}
        out(render_role_members(role, store.role_members(role), grants, in_team(store)))
        return EXIT_OK
    exit_with(guard_runs(body))
