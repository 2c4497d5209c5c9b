"""Schema version 6: a version-5 store is upgraded with users, API tokens, sessions and schedule
ticks, keeps its rows, and ends in the shape of a fresh store."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone

from flowplan.store import Store

from test_store_migrations import LATEST, make_version_2_store, recorded_version, shape, upto

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def make_version_5_store(path) -> None:
    make_version_2_store(path)
    Store.open(f"sqlite:///{path}", revisions=upto(5)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO role_members (role, user, created_at) "
                    "VALUES ('release', 'alice', '2024-05-01 10:00:00.000000')")


def test_version_5_store_is_upgraded_to_6_with_users_tokens_sessions_and_ticks(tmp_path):
    make_version_5_store(tmp_path / "old.db")
    assert recorded_version(tmp_path / "old.db") == 5
    with sqlite3.connect(tmp_path / "old.db") as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"users", "api_tokens", "sessions", "schedule_ticks"}

    Store.open("sqlite:///old.db", base_dir=tmp_path, revisions=upto(6)).close()
    assert recorded_version(tmp_path / "old.db") == 6
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:   # today's code: latest
        assert store.schema_version == LATEST
        assert store.find_run("app", 1).user == "alice"            # rows of version 5 kept
        assert store.role_members("release") == ["alice"]
        store.add_user("alice", HASH, by="root")
        store.add_api_token("abcd1234", "alice", hashlib.sha256(b"s").hexdigest(),
                            description="ci")
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        store.add_session(hashlib.sha256(b"c").hexdigest(), "alice", "csrf", later)
        fired = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
        store.put_schedule_tick("nightly", last_fired_at=fired, last_run="app#2")
        assert store.get_user("alice").created_by == "root"
        assert store.get_api_token("abcd1234").description == "ci"
        assert store.get_session(hashlib.sha256(b"c").hexdigest()).user == "alice"
        assert store.get_schedule_tick("nightly").last_fired_at == fired

    Store.open("sqlite:///old.db", base_dir=tmp_path).close()      # on to the latest
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()
    assert shape(tmp_path / "old.db") == shape(tmp_path / "fresh.db")
