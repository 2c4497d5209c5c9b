"""flowplan.server.auth: argon2id passwords (the same work for unknown names, rehash on new
parameters), `fpt_<id>_<secret>` API tokens kept as hashes, sessions with CSRF tokens and expiry,
and hostile input of every shape answered None or False, never an exception. The database file
is read as bytes to show that no password, token, cookie or CSRF-less secret is in it in clear."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from flowplan.server.auth import (CSRF_FIELD, CSRF_HEADER, MAX_PASSWORD_BYTES, SESSION_COOKIE,
                                  Authenticator, Session, fit_user_name)
from flowplan.store import Store

PASSWORD = "correct horse battery staple"
CHEAP = dict(time_cost=1, memory_cost=8, parallelism=1)    # fast, for the tests' many hashes


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as opened:
        yield opened


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def auth(store, clock):
    return Authenticator(store, hasher=PasswordHasher(**CHEAP), clock=clock)


@pytest.fixture
def alice(store, auth):
    store.add_user("alice", auth.hash_password(PASSWORD))
    return "alice"


def test_the_names_the_routers_use():
    assert (SESSION_COOKIE, CSRF_FIELD, CSRF_HEADER) == \
        ("flowplan_session", "csrf_token", "X-CSRF-Token")


# -- passwords ------------------------------------------------------------------------------------

def test_passwords_are_hashed_with_argon2id_at_the_default_parameters(store):
    hashed = Authenticator(store).hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in hashed


def test_the_right_password_gives_the_users_name(auth, alice):
    assert auth.check_password("alice", PASSWORD) == "alice"


@pytest.mark.parametrize("password", ["", "correct horse battery stapl", PASSWORD + " ",
                                      PASSWORD.upper()])
def test_a_wrong_password_gives_none(auth, alice, password):
    assert auth.check_password("alice", password) is None


def test_names_are_exact(auth, alice):
    assert auth.check_password("Alice", PASSWORD) is None
    assert auth.check_password("alice ", PASSWORD) is None


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(**CHEAP)
        self.verified: list[str] = []

    def verify(self, hash, password):   # noqa: A002 - argon2's name
        self.verified.append(hash)
        return super().verify(hash, password)


def test_an_unknown_name_costs_the_same_argon2_work_as_a_known_one(store):
    hasher = CountingHasher()
    auth = Authenticator(store, hasher=hasher)
    store.add_user("alice", auth.hash_password(PASSWORD))
    assert auth.check_password("alice", "wrong password") is None
    assert auth.check_password("mallory", PASSWORD) is None
    assert auth.check_password("mallory", "anything else") is None
    known, unknown, again = hasher.verified
    assert known == store.get_user("alice").password_hash
    assert unknown == again != known                          # one dummy hash, reused
    params = re.compile(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$")
    assert params.match(unknown).group() == params.match(known).group()


def test_a_hash_with_old_parameters_is_replaced_on_a_good_login_without_a_recorded_change(
        store, clock):
    old = Authenticator(store, hasher=PasswordHasher(**CHEAP))
    store.add_user("alice", old.hash_password(PASSWORD), by="root")
    stronger = Authenticator(store, hasher=PasswordHasher(time_cost=2, memory_cost=16,
                                                          parallelism=1))
    assert stronger.check_password("alice", "wrong") is None
    assert ",t=1," in store.get_user("alice").password_hash     # not on a failed login
    assert stronger.check_password("alice", PASSWORD) == "alice"
    assert "m=16,t=2,p=1" in store.get_user("alice").password_hash
    assert stronger.check_password("alice", PASSWORD) == "alice"
    assert [c.kind for c in store.changes()] == ["user add"]


HOSTILE_TEXT = [None, 7, b"alice", "", " ", "\x00", "ali\x00ce", "alice\n", "\udcff",
                "x" * 101, "x" * 1_000_000, "\u202eecila", "ａｌｉｃｅ"]


@pytest.mark.parametrize("name", HOSTILE_TEXT)
def test_hostile_names_give_none(auth, alice, name):
    assert auth.check_password(name, PASSWORD) is None


@pytest.mark.parametrize("password", [None, 7, b"correct horse battery staple", "\udcff" * 9,
                                      "x" * (MAX_PASSWORD_BYTES + 1), "é" * 513,
                                      "x" * 10_000_000])
def test_hostile_passwords_give_none(auth, alice, password):
    assert auth.check_password("alice", password) is None


def test_a_long_password_up_to_the_limit_and_unicode_work(store, auth):
    longest = "é" * (MAX_PASSWORD_BYTES // 2)
    store.add_user("zoë", auth.hash_password(longest))
    assert auth.check_password("zoë", longest) == "zoë"
    with pytest.raises(ValueError, match=f"at most {MAX_PASSWORD_BYTES} bytes") as raised:
        auth.hash_password(longest + "x")
    assert "é" not in str(raised.value)


def test_name_rules_match_the_clis():
    from flowplan.cli.app import BadInput, checked

    def cli_takes(name: str) -> bool:
        try:
            checked("the user name", name, limit=100)
        except BadInput:
            return False
        return True

    names = ["alice", "release-bot.2", "x" * 100, "zoë",
             *(name for name in HOSTILE_TEXT if isinstance(name, str))]
    assert [fit_user_name(name) for name in names] == [cli_takes(name) for name in names]
    assert fit_user_name("alice") and not fit_user_name("x" * 101)


# -- API tokens -----------------------------------------------------------------------------------

TOKEN = re.compile(r"fpt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


def test_a_token_names_its_user_and_only_its_hash_is_stored(store, auth, alice):
    token = auth.create_token("alice", "ci", by="root")
    token_id, secret = TOKEN.fullmatch(token).groups()
    record = store.get_api_token(token_id)
    assert (record.user, record.description) == ("alice", "ci")
    assert secret not in record.secret_hash and len(record.secret_hash) == 64
    assert auth.user_for_token(token) == "alice"
    assert [(c.kind, c.detail) for c in store.changes(kinds=["token create"])] == \
        [("token create", token_id)]


def test_tokens_are_unique(auth, alice):
    tokens = {auth.create_token("alice") for _ in range(20)}
    assert len(tokens) == 20
    assert len({TOKEN.fullmatch(t).group(1) for t in tokens}) == 20


def test_a_token_for_an_unknown_user_is_refused(auth):
    with pytest.raises(ValueError, match="no user named ghost"):
        auth.create_token("ghost")


def test_a_long_description_is_refused(auth, alice):
    with pytest.raises(ValueError, match="description"):
        auth.create_token("alice", "d" * 201)


def test_revoked_tokens_and_tokens_of_removed_users_give_none(store, auth, alice):
    revoked = auth.create_token("alice")
    kept = auth.create_token("alice")
    store.delete_api_token(TOKEN.fullmatch(revoked).group(1))
    assert auth.user_for_token(revoked) is None
    assert auth.user_for_token(kept) == "alice"
    store.delete_user("alice")
    assert auth.user_for_token(kept) is None


def forgeries(token: str, other: str) -> list[object]:
    prefix, token_id, secret = token.split("_", 2)
    _, other_id, other_secret = other.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    return [
        f"fpt_{token_id}_{flipped}",                 # one character of the secret changed
        f"fpt_{token_id}_{other_secret}",            # another token's secret
        f"fpt_{other_id}_{secret}",                  # the secret under another id
        f"fpt_{'0' * 16}_{secret}",                  # an id nobody has
        token[:-1], token[:20], "fpt_", "fpt__", token_id, secret,
        token + "A", token + "\n", " " + token, token.upper(), f"Bearer {token}",
        f"fpx_{token_id}_{secret}", f"fpt_{token_id}-{secret}",
        f"fpt_{token_id}_{secret[:10]}é{secret[11:]}",       # unicode inside
        f"fpt_{token_id}_{secret[:10]}\x00{secret[11:]}",
        f"fpt_{token_id}_{'A' * 5000}", token * 100, "x" * 10_000_000,
        f"fpt_{token_id}' OR '1'='1_{secret}", f"fpt_%_{secret}",
        None, 7, token.encode(), ["fpt_"], "",
    ]


def test_forged_truncated_and_hostile_tokens_give_none(auth, alice, store):
    token = auth.create_token("alice")
    other = auth.create_token("alice")
    store.add_user("bob", auth.hash_password(PASSWORD))
    for forged in forgeries(token, other):
        assert auth.user_for_token(forged) is None, repr(forged)[:80]
    assert auth.user_for_token(token) == "alice"


def test_use_is_written_down_at_most_once_a_minute(store, auth, alice, clock, monkeypatch):
    token = auth.create_token("alice")
    token_id = TOKEN.fullmatch(token).group(1)
    touched = []
    real_touch = store.touch_api_token
    monkeypatch.setattr(store, "touch_api_token",
                        lambda ident: (touched.append(ident), real_touch(ident)))
    for _ in range(5):
        assert auth.user_for_token(token) == "alice"
    assert touched == [token_id]
    assert store.get_api_token(token_id).last_used_at is not None
    clock.advance(seconds=59)
    auth.user_for_token(token)
    assert len(touched) == 1
    clock.advance(seconds=2)
    auth.user_for_token(token)
    assert touched == [token_id, token_id]


def test_a_fresh_authenticator_does_not_touch_a_token_used_a_moment_ago(store, alice):
    now = datetime.now(timezone.utc)
    first = Authenticator(store, hasher=PasswordHasher(**CHEAP), clock=lambda: now)
    token = first.create_token("alice")
    first.user_for_token(token)
    touched = []
    second = Authenticator(store, hasher=PasswordHasher(**CHEAP),
                           clock=lambda: now + timedelta(seconds=10))
    store_touch = store.touch_api_token
    store.touch_api_token = lambda ident: (touched.append(ident), store_touch(ident))
    try:
        assert second.user_for_token(token) == "alice"
    finally:
        del store.touch_api_token
    assert touched == []


# -- sessions -------------------------------------------------------------------------------------

def test_a_session_is_found_by_its_cookie_until_it_expires(auth, alice, clock):
    opened = auth.open_session("alice")
    assert isinstance(opened, Session)
    assert opened.expires_at == clock.now + timedelta(hours=12)
    assert auth.session(opened.cookie) == opened
    clock.advance(hours=11, minutes=59)
    assert auth.session(opened.cookie) == opened
    clock.advance(minutes=1)
    assert auth.session(opened.cookie) is None


def test_an_expired_session_is_removed_and_stays_gone(store, auth, alice, clock):
    opened = auth.open_session("alice")
    clock.advance(hours=13)
    assert auth.session(opened.cookie) is None
    clock.now -= timedelta(hours=13)                   # even if the clock goes back
    assert auth.session(opened.cookie) is None


def test_opening_a_session_purges_expired_ones(store, auth, alice, clock):
    old = auth.open_session("alice")
    clock.advance(hours=13)
    auth.open_session("alice")
    import hashlib

    assert store.get_session(hashlib.sha256(old.cookie.encode()).hexdigest()) is None


def test_the_session_lifetime_is_the_callers(store, alice, clock):
    short = Authenticator(store, session_ttl=timedelta(minutes=5),
                          hasher=PasswordHasher(**CHEAP), clock=clock)
    opened = short.open_session("alice")
    clock.advance(minutes=5)
    assert short.session(opened.cookie) is None


def test_closing_a_session_logs_out_only_that_one(auth, alice):
    first, second = auth.open_session("alice"), auth.open_session("alice")
    assert first.cookie != second.cookie and first.csrf != second.csrf
    auth.close_session(first.cookie)
    assert auth.session(first.cookie) is None
    assert auth.session(second.cookie) == second
    auth.close_session(first.cookie)                   # again: nothing happens


def test_a_removed_user_has_no_session(store, auth, alice):
    opened = auth.open_session("alice")
    store.delete_user("alice")
    assert auth.session(opened.cookie) is None


def test_a_new_password_ends_sessions(store, auth, alice):
    opened = auth.open_session("alice")
    store.set_password("alice", auth.hash_password("another password"), by="alice")
    assert auth.session(opened.cookie) is None


def test_no_session_for_an_unknown_user(auth):
    with pytest.raises(ValueError, match="no user named ghost"):
        auth.open_session("ghost")


@pytest.mark.parametrize("cookie", [None, "", 7, b"x" * 43, "A" * 43, "x" * 10_000_000,
                                    "é" * 43, "\x00" * 43, "a" * 19, "a;b=c" * 10])
def test_hostile_cookies_give_none(auth, alice, cookie):
    assert auth.session(cookie) is None
    auth.close_session(cookie)


def test_a_cookie_one_character_off_gives_none(auth, alice):
    cookie = auth.open_session("alice").cookie
    assert auth.session(cookie[:-1]) is None
    assert auth.session(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert auth.session(cookie + "A") is None


def test_csrf_is_the_sessions_own_token(auth, alice, store):
    store.add_user("bob", auth.hash_password(PASSWORD))
    mine, theirs = auth.open_session("alice"), auth.open_session("bob")
    assert auth.csrf_ok(mine, mine.csrf) is True
    for wrong in [theirs.csrf, mine.csrf[:-1], mine.csrf + "x", mine.csrf.upper(), "", None,
                  7, mine.cookie, "é" * 43, "\udcff", "x" * 10_000_000, mine.csrf + "\n"]:
        assert auth.csrf_ok(mine, wrong) is False, repr(wrong)[:60]
    assert auth.csrf_ok(None, mine.csrf) is False


# -- nothing secret in clear in the database ------------------------------------------------------

def database_bytes(directory) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob("store.db*")))


def test_no_password_token_secret_or_cookie_reaches_the_database_in_clear(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        auth = Authenticator(store, hasher=PasswordHasher(**CHEAP))
        password = "pw-ZXY-unique-4c1e"
        store.add_user("alice", auth.hash_password(password), by="root")
        assert auth.check_password("alice", password) == "alice"
        token = auth.create_token("alice", "deploys", by="root")
        assert auth.user_for_token(token) == "alice"
        session = auth.open_session("alice")
        assert auth.session(session.cookie) is not None
        secret = token.split("_", 2)[2]
        written = database_bytes(tmp_path)
        assert b"deploys" in written               # the right files were read
        for clear in (password, token, secret, session.cookie):
            assert clear.encode() not in written, clear
    written = database_bytes(tmp_path)              # after the WAL was checkpointed
    assert b"deploys" in written
    for clear in (password, token, secret, session.cookie):
        assert clear.encode() not in written
