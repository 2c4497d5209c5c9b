"""Remote workers in the store (schema version 8), on SQLite and PostgreSQL: worker tokens kept
as hashes, the task each worker runs, and a run's sensitive values kept as encrypted tokens only,
gone with the run; a version 7 store upgraded to 8 keeps its rows."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from flowplan.store import Revisions, Store, TaskPlan

HASH = hashlib.sha256(b"secret part").hexdigest()


def _run(store: Store) -> tuple[int, int]:
    run = store.create_run("app", trigger="manual", user=None, definition={"stages": {}},
                           tasks=[TaskPlan("s", 0, "t", 0, ())])
    return run.id, store.task_runs(run.id)[0].id


def test_worker_tokens_are_kept_as_hashes_listed_and_revoked(store_url):
    with Store.open(store_url) as store:
        store.add_worker_token("0123456789abcdef", "build-1", HASH, by="ops")
        assert store.get_worker_token("0123456789abcdef").worker == "build-1"
        assert [t.id for t in store.list_worker_tokens()] == ["0123456789abcdef"]
        for token_id, name, value in (("abcd", "build-1", "clear-text-secret"),
                                      ("abce", "../up", HASH), ("0123456789abcdef", "b", HASH)):
            with pytest.raises(ValueError):
                store.add_worker_token(token_id, name, value)
        assert store.delete_worker_token("0123456789abcdef", by="ops")
        assert not store.delete_worker_token("0123456789abcdef")
        assert store.get_worker_token("0123456789abcdef") is None
        assert [c.kind for c in store.changes(subject="build-1")] == [
            "worker token create", "worker token revoke"]


def test_a_task_run_is_claimed_by_one_worker_at_a_time(store_url):
    with Store.open(store_url) as store:
        run_id, task_run_id = _run(store)
        assert store.task_claim(task_run_id) is None
        store.claim_task(task_run_id, run_id, "one")
        store.claim_task(task_run_id, run_id, "two")        # sent again, to another worker
        assert (store.task_claim(task_run_id).worker, store.task_claim(task_run_id).run_id) \
            == ("two", run_id)
        store.release_task(task_run_id, "one")              # the earlier worker's end
        assert store.task_claim(task_run_id).worker == "two"
        store.release_task(task_run_id, "two")
        assert store.task_claim(task_run_id) is None


def test_run_secrets_are_encrypted_tokens_only_and_deleted(store_url):
    with Store.open(store_url) as store:
        run_id, _ = _run(store)
        with pytest.raises(ValueError, match="encrypted secret tokens only"):
            store.put_run_secrets(run_id, {"token": "clear text"})
        store.put_run_secrets(run_id, {"token": "fernet-scrypt-v1:abc", "other": "fernet-x"})
        store.put_run_secrets(run_id, {"token": "fernet-scrypt-v1:def"})   # replaces them
        assert store.run_secret_tokens(run_id) == {"token": "fernet-scrypt-v1:def"}
        store.delete_run_secrets(run_id)
        assert store.run_secret_tokens(run_id) == {}


def test_a_run_marked_interrupted_loses_the_secrets_its_dead_driver_left(store_url):
    """Its driver is gone and will never delete them; `resume` seals them anew."""
    with Store.open(store_url) as store:
        run_id, _ = _run(store)
        other_id, _ = _run(store)
        store.put_run_secrets(run_id, {"token": "fernet-scrypt-v1:abc"})
        store.put_run_secrets(other_id, {"token": "fernet-scrypt-v1:def"})
        store.interrupt_run(run_id, "the process driving the run (pid 5) is gone")
        assert store.run_secret_tokens(run_id) == {}
        assert store.run_secret_tokens(other_id) == {"token": "fernet-scrypt-v1:def"}


def test_a_version_7_store_is_upgraded_to_8_keeping_its_rows(store_url):
    url = store_url
    with Store.open(url, revisions=Revisions(target=7)) as old:
        assert old.schema_version == 7
        with old._write_engine.begin() as connection:     # as flowplan 7 wrote it
            run_id = connection.execute(text(
                "INSERT INTO runs (pipeline, number, status, \"trigger\", variables, definition, "
                "options, created_at) VALUES ('app', 1, 'queued', 'manual', '{}', '{}', '{}', "
                "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
    with Store.open(url) as store:
        assert store.schema_version >= 8                   # today's code: the latest
        assert store.get_run(run_id).pipeline == "app"
        store.put_run_secrets(run_id, {"token": "fernet-scrypt-v1:abc"})
        assert store.run_secret_tokens(run_id) == {"token": "fernet-scrypt-v1:abc"}
