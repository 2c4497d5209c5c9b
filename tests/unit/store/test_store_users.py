"""Users, API tokens, sessions and schedule ticks in the store: round trips, what goes with a
removed user, the refusal of anything that is not a hash, and `changes` naming who did what
without a hash in it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from flowplan.store import Store

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
OTHER_HASH = "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXJzYWx0$b3RoZXJoYXNoaGFzaA"
SECRET_HASH = hashlib.sha256(b"the secret part").hexdigest()
COOKIE_HASH = hashlib.sha256(b"the cookie value").hexdigest()


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def later(hours: float = 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


def test_user_round_trip_and_listing_by_name(store):
    added = store.add_user("bob", HASH, by="root")
    store.add_user("alice", HASH)
    assert store.get_user("bob") == added
    assert (added.name, added.password_hash, added.created_by) == ("bob", HASH, "root")
    assert added.created_at.tzinfo is not None
    assert [user.name for user in store.list_users()] == ["alice", "bob"]
    assert store.get_user("carol") is None


def test_adding_a_user_twice_is_refused_and_keeps_the_first(store):
    store.add_user("alice", HASH)
    with pytest.raises(ValueError, match="already a user named alice"):
        store.add_user("alice", OTHER_HASH)
    assert store.get_user("alice").password_hash == HASH


@pytest.mark.parametrize("value", ["hunter22", "", "argon2id$x", "$argon2id$", "$2b$12$abc"])
def test_a_password_that_is_not_an_argon2_hash_is_refused(store, value):
    with pytest.raises(ValueError, match="argon2 password hashes only"):
        store.add_user("alice", value)
    store.add_user("alice", HASH)
    with pytest.raises(ValueError, match="argon2 password hashes only"):
        store.set_password("alice", value)
    assert store.get_user("alice").password_hash == HASH


@pytest.mark.parametrize("name", ["", "x" * 101, None, 7])
def test_user_names_are_bounded(store, name):
    with pytest.raises(ValueError, match="user name"):
        store.add_user(name, HASH)


def test_set_password_replaces_the_hash_and_reports_unknown_users(store):
    store.add_user("alice", HASH)
    assert store.set_password("alice", OTHER_HASH, by="root") is True
    assert store.get_user("alice").password_hash == OTHER_HASH
    assert store.set_password("nobody", OTHER_HASH) is False


def test_a_new_password_ends_the_users_sessions_and_a_rehash_does_not(store):
    store.add_user("alice", HASH)
    store.add_session(COOKIE_HASH, "alice", "csrf", later())
    store.set_password("alice", HASH, rehash=True)
    assert store.get_session(COOKIE_HASH) is not None
    store.set_password("alice", OTHER_HASH, by="alice")
    assert store.get_session(COOKIE_HASH) is None


def test_api_token_round_trip_touch_and_revoke(store):
    store.add_user("alice", HASH)
    created = store.add_api_token("tok1abcd", "alice", SECRET_HASH, description="ci", by="root")
    assert store.get_api_token("tok1abcd") == created
    assert created.last_used_at is None
    store.touch_api_token("tok1abcd")
    assert store.get_api_token("tok1abcd").last_used_at is not None
    assert store.delete_api_token("tok1abcd", by="root") is True
    assert store.get_api_token("tok1abcd") is None
    assert store.delete_api_token("tok1abcd") is False


def test_api_tokens_are_listed_per_user(store):
    store.add_user("alice", HASH)
    store.add_user("bob", HASH)
    store.add_api_token("aaaa1111", "alice", SECRET_HASH)
    store.add_api_token("bbbb2222", "bob", SECRET_HASH)
    store.add_api_token("cccc3333", "alice", SECRET_HASH)
    assert [t.id for t in store.list_api_tokens()] == ["aaaa1111", "cccc3333", "bbbb2222"]
    assert [t.id for t in store.list_api_tokens("bob")] == ["bbbb2222"]
    assert store.list_api_tokens("nobody") == []


def test_a_token_needs_an_existing_user_a_free_id_and_a_hash(store):
    with pytest.raises(ValueError, match="no user named ghost"):
        store.add_api_token("abcd1234", "ghost", SECRET_HASH)
    store.add_user("alice", HASH)
    store.add_api_token("abcd1234", "alice", SECRET_HASH)
    with pytest.raises(ValueError, match="already a token"):
        store.add_api_token("abcd1234", "alice", SECRET_HASH)
    with pytest.raises(ValueError, match="SHA-256"):
        store.add_api_token("efgh5678", "alice", "the secret in clear")
    with pytest.raises(ValueError, match="token id"):
        store.add_api_token("bad_id", "alice", SECRET_HASH)


def test_session_round_trip_delete_and_purge(store):
    store.add_user("alice", HASH)
    expired_hash = hashlib.sha256(b"old").hexdigest()
    session = store.add_session(COOKIE_HASH, "alice", "csrf-1", later())
    store.add_session(expired_hash, "alice", "csrf-2", later(-1))
    assert store.get_session(COOKIE_HASH) == session
    assert store.purge_sessions(datetime.now(timezone.utc)) == 1
    assert store.get_session(expired_hash) is None
    assert store.delete_session(COOKIE_HASH) is True
    assert store.get_session(COOKIE_HASH) is None
    assert store.delete_session(COOKIE_HASH) is False


def test_a_session_is_only_kept_by_its_hash(store):
    store.add_user("alice", HASH)
    with pytest.raises(ValueError, match="SHA-256"):
        store.add_session("the-cookie-value", "alice", "csrf", later())
    with pytest.raises(ValueError, match="no user named ghost"):
        store.add_session(COOKIE_HASH, "ghost", "csrf", later())


def test_removing_a_user_removes_its_tokens_and_sessions_but_not_its_roles(store):
    store.add_user("alice", HASH)
    store.add_user("bob", HASH)
    store.grant_role("release", "alice")
    store.add_api_token("aaaa1111", "alice", SECRET_HASH)
    store.add_api_token("bbbb2222", "bob", SECRET_HASH)
    store.add_session(COOKIE_HASH, "alice", "csrf", later())

    assert store.delete_user("alice", by="root") is True
    assert store.get_user("alice") is None
    assert store.get_api_token("aaaa1111") is None
    assert store.get_session(COOKIE_HASH) is None
    assert [t.id for t in store.list_api_tokens()] == ["bbbb2222"]
    assert store.role_members("release") == ["alice"]
    assert store.delete_user("alice") is False


def test_a_user_added_again_does_not_get_the_old_tokens_or_sessions(store):
    store.add_user("alice", HASH)
    store.add_api_token("aaaa1111", "alice", SECRET_HASH)
    store.add_session(COOKIE_HASH, "alice", "csrf", later())
    store.delete_user("alice")
    store.add_user("alice", OTHER_HASH)
    assert store.get_api_token("aaaa1111") is None
    assert store.get_session(COOKIE_HASH) is None


def test_changes_record_who_added_removed_and_issued_tokens_without_any_hash(store):
    store.add_user("alice", HASH, by="root")
    store.set_password("alice", OTHER_HASH, by="alice")
    store.set_password("alice", HASH, rehash=True)      # on login: not a change of access
    store.add_api_token("aaaa1111", "alice", SECRET_HASH, by="root")
    store.delete_api_token("aaaa1111", by="alice")
    store.delete_user("alice", by="root")

    changes = store.changes()
    assert [(c.kind, c.subject, c.detail, c.as_user) for c in changes] == [
        ("user add", "alice", None, "root"),
        ("user passwd", "alice", None, "alice"),
        ("token create", "alice", "aaaa1111", "root"),
        ("token revoke", "alice", "aaaa1111", "alice"),
        ("user rm", "alice", None, "root"),
    ]
    assert all(c.os_user for c in changes)
    text = repr(changes)
    assert "argon2" not in text and SECRET_HASH not in text


def test_schedule_tick_is_inserted_then_replaced(store):
    fired = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    assert store.get_schedule_tick("nightly") is None
    store.put_schedule_tick("nightly", last_fired_at=fired)
    first = store.get_schedule_tick("nightly")
    assert (first.last_fired_at, first.last_commit, first.last_run, first.last_note) == \
        (fired, None, None, None)
    store.put_schedule_tick("nightly", last_fired_at=fired + timedelta(days=1),
                            last_commit="a" * 40, last_run="app#3", last_note="started")
    second = store.get_schedule_tick("nightly")
    assert (second.last_fired_at, second.last_commit, second.last_run, second.last_note) == \
        (fired + timedelta(days=1), "a" * 40, "app#3", "started")
    assert second.updated_at >= first.updated_at


def test_a_schedule_tick_note_is_masked_like_run_errors(store):
    store.mask_sensitive(["hunter2-token"])
    store.put_schedule_tick("nightly", last_fired_at=datetime.now(timezone.utc),
                            last_note="refused: token hunter2-token is wrong")
    assert "hunter2-token" not in store.get_schedule_tick("nightly").last_note
