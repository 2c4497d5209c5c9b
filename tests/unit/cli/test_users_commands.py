"""`flowplan user ...` and `flowplan token ...` in process (typer's CliRunner): passwords read
from standard input and refused when short, empty, too long or not UTF-8; roles granted; tokens
printed once and listed by id only; what a bad name or an unknown user gets; and that neither
output nor the store holds a password or a token in clear."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from flowplan.cli import app
from flowplan.server.auth import Authenticator
from flowplan.store import Store

PASSWORD = "s3cret-horse-battery"
TOKEN = re.compile(r"^(fpt_([0-9a-f]{16})_[A-Za-z0-9_-]{43})$", re.M)


@pytest.fixture
def config(tmp_path):
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "main.hcl").write_text("flowplan {}\n")
    return directory


@pytest.fixture
def flowplan(config):
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None):
        result = runner.invoke(app, ["-C", str(config), *args], input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exception
        return result

    return invoke


def store_of(config) -> Store:
    return Store.open("sqlite:///.flowplan/flowplan.db", base_dir=config)


def test_user_add_stores_an_argon2_hash_and_grants_roles(flowplan, config):
    result = flowplan("user", "add", "alice", "--role", "release", "--role", "ops",
                      "--as", "root-ish", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Added user alice with roles release, ops.\n"
    with store_of(config) as store:
        user = store.get_user("alice")
        assert user.password_hash.startswith("$argon2id$")
        assert user.created_by == "root-ish"
        assert store.role_members("release") == store.role_members("ops") == ["alice"]
        assert Authenticator(store).check_password("alice", PASSWORD) == "alice"
    assert PASSWORD not in result.output


def test_only_the_first_line_of_a_pipe_is_the_password(flowplan, config):
    assert flowplan("user", "add", "alice", input=PASSWORD + "\r\nsecond line\n").exit_code == 0
    with store_of(config) as store:
        assert Authenticator(store).check_password("alice", PASSWORD) == "alice"


@pytest.mark.parametrize("stdin, message", [
    ("", "the password is empty"),
    ("\n", "the password is empty"),
    ("short7!\n", "shorter than 8 characters"),
    ("x" * 1025 + "\n", "longer than 1024 bytes"),
    (b"\xff\xfe not utf-8 at all\n", "not UTF-8 text"),
])
def test_bad_passwords_are_refused_and_nothing_is_stored(flowplan, config, stdin, message):
    result = flowplan("user", "add", "alice", "--role", "release", input=stdin)
    assert result.exit_code == 1
    assert message in result.stderr and "nothing stored" in result.stderr
    with store_of(config) as store:
        assert store.get_user("alice") is None and store.role_members("release") == []


def test_a_huge_password_on_stdin_is_refused_without_reading_it_all(flowplan, config):
    result = flowplan("user", "add", "alice", input="y" * 5_000_000)
    assert result.exit_code == 1 and "longer than 1024 bytes" in result.stderr


@pytest.mark.parametrize("name, message", [
    ("", "the user name is empty"),
    ("a\tb", "control character"),
    ("x" * 101, "101 characters long; at most 100"),
])
def test_bad_user_names_are_refused(flowplan, name, message):
    result = flowplan("user", "add", name, input=PASSWORD + "\n")
    assert result.exit_code == 1 and message in result.stderr


def test_adding_an_existing_user_is_refused_and_keeps_the_password(flowplan, config):
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    result = flowplan("user", "add", "alice", input="another-password\n")
    assert result.exit_code == 1
    assert "already a user named alice" in result.stderr
    assert "flowplan user passwd alice" in result.stderr
    with store_of(config) as store:
        assert Authenticator(store).check_password("alice", PASSWORD) == "alice"


def test_user_list_shows_roles_and_who_added_them_in_text_and_json(flowplan):
    assert flowplan("user", "list").stdout == \
        "No users. Add one with: flowplan user add NAME\n"
    flowplan("user", "add", "bob", "--as", "carol", input=PASSWORD + "\n")
    flowplan("user", "add", "alice", "--role", "release", input=PASSWORD + "\n")
    text = flowplan("user", "list").stdout.splitlines()
    assert text[0].split() == ["USER", "TEAMS", "ROLES", "CREATED", "CREATED", "BY"]
    assert text[1].split()[:3] == ["alice", "default", "release"]
    assert text[2].split()[:3] == ["bob", "default", "-"] and text[2].split()[-1] == "carol"
    listed = json.loads(flowplan("user", "list", "--json").stdout)
    assert [(u["name"], u["teams"], u["roles"], u["created_by"]) for u in listed] == [
        ("alice", ["default"], ["release"], listed[0]["created_by"]),
        ("bob", ["default"], [], "carol")]
    assert all(set(u) == {"name", "teams", "roles", "created_at", "created_by"}
               for u in listed)


def test_user_add_team_and_join_and_leave_set_membership(flowplan, config):
    from flowplan import teams

    teams.create_team(config, "blue")
    added = flowplan("user", "add", "alice", "--team", "blue", "--team", "default",
                     input=PASSWORD + "\n")
    assert added.exit_code == 0 and "member of teams blue, default" in added.stdout
    refused = flowplan("user", "add", "bob", "--team", "ghost", input=PASSWORD + "\n")
    assert refused.exit_code == 1 and "flowplan team new ghost" in refused.stderr
    assert flowplan("user", "add", "bob", "--team", "blue", input=PASSWORD + "\n").exit_code == 0
    with store_of(config) as store:
        assert store.user_teams("alice") == ["blue", "default"]
        assert store.user_teams("bob") == ["blue"] and store.get_user("bob") is not None
    left = flowplan("user", "leave", "alice", "--team", "blue")
    assert left.exit_code == 0 and "alice is a member of team default." in left.stdout
    assert flowplan("user", "leave", "alice", "--team", "blue").exit_code == 1
    joined = flowplan("user", "join", "bob", "--team", "default")
    assert joined.exit_code == 0 and "bob is a member of team blue, default." in joined.stdout
    assert flowplan("user", "join", "nobody", "--team", "default").exit_code == 1


def test_user_passwd_changes_the_password(flowplan, config):
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    result = flowplan("user", "passwd", "alice", input="brand-new-password\n")
    assert result.exit_code == 0 and "Changed the password of alice" in result.stdout
    with store_of(config) as store:
        auth = Authenticator(store)
        assert auth.check_password("alice", PASSWORD) is None
        assert auth.check_password("alice", "brand-new-password") == "alice"
    assert flowplan("user", "passwd", "nobody", input=PASSWORD + "\n").exit_code == 1
    assert flowplan("user", "passwd", "alice", input="short\n").exit_code == 1


def test_token_create_prints_the_token_once_and_list_never_shows_it(flowplan, config):
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    result = flowplan("token", "create", "alice", "--description", "deploy bot")
    assert result.exit_code == 0, result.output
    match = TOKEN.search(result.stdout)
    assert match and result.stdout == match.group(1) + "\n"
    token, token_id = match.groups()
    assert "shown only once" in result.stderr and token not in result.stderr

    listed = flowplan("token", "list")
    assert token_id in listed.stdout and "deploy bot" in listed.stdout
    assert listed.stdout.splitlines()[1].endswith("never")
    secret = token.split("_", 2)[2]
    assert secret not in listed.stdout
    with store_of(config) as store:
        assert Authenticator(store).user_for_token(token) == "alice"
    rows = json.loads(flowplan("token", "list", "alice", "--json").stdout)
    assert [(r["id"], r["user"], r["description"]) for r in rows] == [
        (token_id, "alice", "deploy bot")]
    assert rows[0]["last_used_at"] is not None                 # used just now
    assert secret not in json.dumps(rows)
    assert json.loads(flowplan("token", "list", "bob", "--json").stdout) == []


def test_token_revoke_ends_the_token(flowplan, config):
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    token, token_id = TOKEN.search(flowplan("token", "create", "alice").stdout).groups()
    result = flowplan("token", "revoke", token_id, "--as", "ops")
    assert result.exit_code == 0 and result.stdout == f"Revoked API token {token_id}.\n"
    with store_of(config) as store:
        assert Authenticator(store).user_for_token(token) is None
        assert [(c.kind, c.detail, c.as_user) for c in store.changes(kinds=["token revoke"])] \
            == [("token revoke", token_id, "ops")]
    again = flowplan("token", "revoke", token_id)
    assert again.exit_code == 1 and f"no API token with id {token_id}" in again.stderr


def test_token_revoke_refuses_a_whole_token_and_never_echoes_it(flowplan):
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    token = TOKEN.search(flowplan("token", "create", "alice").stdout).group(1)
    result = flowplan("token", "revoke", token)
    assert result.exit_code == 1 and "give the token's id" in result.stderr
    assert token not in result.output


def test_token_create_for_an_unknown_user_or_with_a_bad_description(flowplan):
    result = flowplan("token", "create", "ghost")
    assert result.exit_code == 1 and "no user named ghost" in result.stderr
    assert not TOKEN.search(result.stdout)
    flowplan("user", "add", "alice", input=PASSWORD + "\n")
    result = flowplan("token", "create", "alice", "--description", "line\x1b[31m")
    assert result.exit_code == 1 and "control character" in result.stderr
    result = flowplan("token", "create", "alice", "--description", "d" * 201)
    assert result.exit_code == 1 and "at most 200" in result.stderr


def test_user_rm_removes_tokens_and_says_which_roles_remain(flowplan, config):
    flowplan("user", "add", "alice", "--role", "release", input=PASSWORD + "\n")
    token = TOKEN.search(flowplan("token", "create", "alice").stdout).group(1)
    result = flowplan("user", "rm", "alice")
    assert result.exit_code == 0
    assert "Removed user alice, with their API tokens and sessions." in result.stdout
    assert "still in roles release" in result.stderr
    assert "flowplan role revoke ROLE alice" in result.stderr
    with store_of(config) as store:
        assert Authenticator(store).user_for_token(token) is None
        assert store.list_api_tokens() == []
    missing = flowplan("user", "rm", "alice")
    assert missing.exit_code == 1 and "no user named alice" in missing.stderr


def test_changes_name_who_did_what_and_no_secret(flowplan, config):
    flowplan("user", "add", "alice", "--as", "root-ish", input=PASSWORD + "\n")
    token = TOKEN.search(flowplan("token", "create", "alice", "--as", "ops").stdout).group(1)
    flowplan("user", "passwd", "alice", "--as", "alice", input="another-password\n")
    flowplan("user", "rm", "alice", "--as", "root-ish")
    with store_of(config) as store:
        changes = store.changes()
    assert [(c.kind, c.subject, c.as_user) for c in changes] == [
        ("user add", "alice", "root-ish"), ("team join", "default", "root-ish"),
        ("token create", "alice", "ops"),
        ("user passwd", "alice", "alice"), ("user rm", "alice", "root-ish")]
    text = repr(changes)
    for secret in (PASSWORD, "another-password", token, token.split("_", 2)[2], "argon2"):
        assert secret not in text


def test_help_lists_the_user_and_token_commands(flowplan):
    top = flowplan("--help").stdout
    assert "user" in top and "token" in top
    assert {"add", "list", "rm", "passwd"} <= set(re.findall(r"^\s+(\w+)\s",
                                                             flowplan("user", "--help").stdout,
                                                             re.M))
    assert {"create", "list", "revoke"} <= set(re.findall(r"^\s+(\w+)\s",
                                                          flowplan("token", "--help").stdout,
                                                          re.M))
