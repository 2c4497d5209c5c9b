"""Secrets, roles and their changes per team (schema version 10), on SQLite and PostgreSQL: a
store reads and writes its team's secrets and roles only, a store opened for every team (a
worker's) refuses them, and an older store's secrets and roles become team `default`'s."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.support.threads import at_once

from flowplan.store import Revisions, Store
from flowplan.store.schema import utc_now

TOKEN_A, TOKEN_B = "fernet-scrypt-v1:AAAA", "fernet-scrypt-v1:BBBB"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def test_two_teams_keep_secrets_of_the_same_name_apart(teams):
    default, blue = teams
    default.put_secret("deploy_token", TOKEN_A)
    default.put_secret("only_default", TOKEN_A)
    blue.put_secret("deploy_token", TOKEN_B)
    assert default.get_secret_token("deploy_token") == TOKEN_A
    assert blue.get_secret_token("deploy_token") == TOKEN_B
    assert blue.get_secret_token("only_default") is None       # another team's: not found
    assert default.secret_names() == ["deploy_token", "only_default"]
    assert blue.secret_names() == ["deploy_token"]
    assert not blue.delete_secret("only_default")
    assert blue.delete_secret("deploy_token")
    assert blue.get_secret_token("deploy_token") is None
    assert default.get_secret_token("deploy_token") == TOKEN_A


def test_replacing_a_teams_secret_leaves_the_other_teams_alone(teams):
    default, blue = teams
    default.put_secret("db", TOKEN_A)
    blue.put_secret("db", TOKEN_A)
    blue.put_secret("db", TOKEN_B)
    assert (default.get_secret_token("db"), blue.get_secret_token("db")) == (TOKEN_A, TOKEN_B)
    assert blue.secret_names() == ["db"]


def test_concurrent_first_sets_and_grants_of_one_name_all_succeed_into_one_row(teams):
    _default, blue = teams
    granted = []

    def set_and_grant(index: int) -> None:
        blue.put_secret("db", f"fernet-scrypt-v1:{index}")
        granted.append(blue.grant_role("ops", "alice"))

    assert at_once(set_and_grant, 8) == []
    assert blue.secret_names() == ["db"] and blue.role_members("ops") == ["alice"]
    assert sorted(granted) == [False] * 7 + [True]
    assert len(blue.changes(kinds=["secret set"])) == 8


def test_a_role_granted_in_one_team_names_nobody_in_another(teams):
    default, blue = teams
    assert default.grant_role("ops", "alice")
    assert blue.grant_role("ops", "bob")
    assert blue.grant_role("release", "alice")
    assert default.role_members("ops") == ["alice"]
    assert blue.role_members("ops") == ["bob"]
    assert default.roles() == {"ops": ["alice"]}
    assert blue.roles() == {"ops": ["bob"], "release": ["alice"]}
    assert not blue.revoke_role("ops", "alice")                # alice is ops in default only
    assert default.role_members("ops") == ["alice"]
    assert default.grant_role("ops", "bob")                    # bob's grant in blue counted not
    assert default.revoke_role("ops", "bob") and blue.role_members("ops") == ["bob"]


def test_changes_list_the_teams_secret_and_role_changes_and_every_global_change(teams):
    default, blue = teams
    default.put_secret("db", TOKEN_A, by="erin")
    blue.put_secret("db", TOKEN_B, by="mallory")
    blue.grant_role("ops", "bob", by="mallory")
    default.add_user("carol", HASH, by="dave")                 # users are global
    blue.add_user("frank", HASH, by="grace")
    assert [(c.kind, c.subject, c.as_user, c.team) for c in default.changes()] == [
        ("secret set", "db", "erin", "default"), ("user add", "carol", "dave", "default"),
        ("user add", "frank", "grace", "blue")]
    assert [(c.kind, c.as_user, c.team) for c in blue.changes(kinds=["secret set", "role grant"])
            ] == [("secret set", "mallory", "blue"), ("role grant", "mallory", "blue")]
    assert default.changes(kinds=["role grant"]) == []
    assert [c.as_user for c in default.changes(subject="db")] == ["erin"]


STORE_CALLS = {
    "put_secret": lambda store: store.put_secret("db", TOKEN_A),
    "get_secret_token": lambda store: store.get_secret_token("db"),
    "secret_names": lambda store: store.secret_names(),
    "delete_secret": lambda store: store.delete_secret("db"),
    "grant_role": lambda store: store.grant_role("ops", "alice"),
    "revoke_role": lambda store: store.revoke_role("ops", "alice"),
    "role_members": lambda store: store.role_members("ops"),
    "roles": lambda store: store.roles(),
    "changes": lambda store: store.changes(),
    "add_user": lambda store: store.add_user("carol", HASH),   # its change names a team
}


@pytest.mark.parametrize("call", STORE_CALLS.values(), ids=STORE_CALLS.keys())
def test_a_store_opened_for_every_team_refuses_secrets_roles_and_changes(store_url, teams, call):
    default, _blue = teams
    default.put_secret("db", TOKEN_A)
    default.grant_role("ops", "alice")
    with Store.open(store_url, team=None) as every:
        with pytest.raises(ValueError, match=r"for_team\(TEAM\)"):
            call(every)
        assert every.for_team("default").get_secret_token("db") == TOKEN_A
        assert every.for_team("default").role_members("ops") == ["alice"]
        assert every.for_team("blue").get_secret_token("db") is None
    assert default.get_user("carol") is None and default.secret_names() == ["db"]


def test_forgetting_a_team_removes_its_secrets_and_roles_and_a_new_one_inherits_none(teams):
    default, blue = teams
    default.put_secret("db", TOKEN_A)
    default.grant_role("ops", "alice")
    blue.put_secret("db", TOKEN_B)
    blue.grant_role("ops", "mallory")
    default.forget_team("blue")
    again = default.for_team("blue")                           # a team made again, same name
    assert again.secret_names() == [] and again.get_secret_token("db") is None
    assert again.roles() == {} and again.role_members("ops") == []
    assert default.get_secret_token("db") == TOKEN_A and default.role_members("ops") == ["alice"]
    assert [c.kind for c in again.changes()] == ["secret set", "role grant"]   # kept: who did


def test_a_version_9_store_upgrades_with_its_secrets_and_roles_in_team_default(new_store_url):
    url = new_store_url()
    with Store.open(url, revisions=Revisions(target=9)) as old:
        now = utc_now()
        with old._write_engine.begin() as connection:     # as flowplan 9 wrote them
            for name, token in (("db", TOKEN_A), ("gone", TOKEN_A), ("git", TOKEN_B)):
                connection.execute(text(
                    "INSERT INTO secrets (name, token, created_at, updated_at) "
                    "VALUES (:name, :token, :now, :now)"), {"name": name, "token": token,
                                                           "now": now})
            connection.execute(text("DELETE FROM secrets WHERE name = 'git'"))
            for user in ("alice", "bob"):
                connection.execute(text(
                    "INSERT INTO role_members (role, \"user\", created_at) "
                    "VALUES ('ops', :user, :now)"), {"user": user, "now": now})
            connection.execute(text(
                "INSERT INTO changes (at, os_user, uid, as_user, kind, subject, detail) "
                "VALUES (:now, 'root', 0, 'erin', 'secret set', 'db', NULL)"), {"now": now})
    with Store.open(url) as store:
        assert store.schema_version >= 10
        assert store.secret_names() == ["db", "gone"]
        assert store.get_secret_token("db") == TOKEN_A
        assert store.role_members("ops") == ["alice", "bob"]
        assert [(c.as_user, c.team) for c in store.changes()] == [("erin", "default")]
        blue = store.for_team("blue")
        assert blue.secret_names() == [] and blue.role_members("ops") == []
        blue.put_secret("db", TOKEN_B)                          # the name is free in blue
        assert blue.grant_role("ops", "alice")
        assert store.get_secret_token("db") == TOKEN_A
        store.put_secret("new", TOKEN_B)
        with store._engine.connect() as connection:     # the deleted id 3 stays used
            ids = dict(connection.execute(text("SELECT name, id FROM secrets "
                                               "WHERE team = 'default'")).all())
        assert ids == {"db": 1, "gone": 2, "new": 5}             # blue's db took 4
