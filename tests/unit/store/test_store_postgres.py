"""A PostgreSQL store: `postgresql://` URLs driven by psycopg 3, the password never shown, opens
racing on a fresh database, and the server restarting while the store is in use."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.support.ports import free_port

from flowplan.store import StepPlan, Store, TaskPlan, resolve_url, shown_url
from flowplan.store.database import ValueTooLong
from flowplan.store.schema import Pipeline, utc_now


@pytest.mark.parametrize("url", ["postgresql://ci:pw@db.example:5432/flowplan",
                                 "postgres://ci:pw@db.example:5432/flowplan",
                                 "postgresql+psycopg://ci:pw@db.example:5432/flowplan"])
def test_postgresql_urls_are_driven_by_psycopg_3(url):
    resolved = resolve_url(url)
    assert resolved.drivername == "postgresql+psycopg"
    assert (resolved.username, resolved.password, resolved.host, resolved.port,
            resolved.database) == ("ci", "pw", "db.example", 5432, "flowplan")


def test_an_unreadable_store_url_is_refused_without_repeating_it():
    with pytest.raises(ValueError) as refused:
        resolve_url("postgresql://ci:s3cret-pw@db.example:notaport/flowplan")
    assert "s3cret-pw" not in str(refused.value)
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in str(refused.value)


@pytest.fixture
def database_url(postgres_server) -> str:
    return postgres_server.create_database(f"store_{uuid.uuid4().hex[:16]}")


def test_a_plain_postgresql_url_opens_the_store_and_shows_it_without_the_password(
        database_url, postgres_server):
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with Store.open(plain) as store:
        store.register_pipeline("app", {"stage": {}}, "h")
        assert postgres_server.password not in store.url
        assert store.url.startswith("postgresql+psycopg://flowplan:***@127.0.0.1:")
    with Store.open(database_url) as store:
        assert store.get_pipeline("app").definition == {"stage": {}}


def test_a_wrong_password_fails_without_showing_it(database_url):
    wrong = make_url(database_url).set(password="not-the-Password-42")
    with pytest.raises(OperationalError) as failed:
        Store.open(wrong.render_as_string(hide_password=False))
    assert "not-the-Password-42" not in str(failed.value)
    assert "password authentication failed" in str(failed.value)


def test_processes_opening_a_fresh_database_at_once_create_its_schema_once(database_url):
    opened, failures = [], []

    def open_store() -> None:
        try:
            with Store.open(database_url) as store:
                opened.append(store.schema_version)
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            failures.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(opened)) == 1 and len(opened) == 4


def test_after_the_server_restarts_the_next_call_reconnects(database_url, postgres_server):
    with Store.open(database_url) as store:
        store.register_pipeline("app", {"v": 1}, "h")
        assert store.get_pipeline("app") is not None      # a pooled connection now exists
        postgres_server.restart()
        store.register_pipeline("app", {"v": 2}, "h2")     # pool_pre_ping: a new connection
        assert store.get_pipeline("app").definition == {"v": 2}
        run = store.create_run("app", trigger="manual", user="alice", definition={},
                               tasks=[TaskPlan("build", 0, "compile", 0,
                                               (StepPlan("make", "command", 0),))])
        step = store.step_runs(run.id)[0]
        postgres_server.restart()                           # again, mid-run
        store.record(steps=[(step.id, {"status": "succeeded", "exit_code": 0})],
                     chunks=[dict(run_id=run.id, step_run_id=step.id, first_seq=1,
                                  line_count=1, at=1.0, stream="stdout", text="built")])
        assert (store.step_runs(run.id)[0].status, store.step_runs(run.id)[0].exit_code) == \
            ("succeeded", 0)


def test_a_write_while_the_server_is_down_waits_for_it_to_come_back(database_url,
                                                                    postgres_server):
    with Store.open(database_url) as store:
        store.register_pipeline("app", {"v": 1}, "h")
        postgres_server.stop()
        restarter = threading.Timer(2.0, postgres_server.start)
        restarter.start()
        try:
            store.register_pipeline("app", {"v": 2}, "h2")   # refused at first, then written
        finally:
            restarter.join()
        assert store.get_pipeline("app").definition == {"v": 2}


def test_a_store_whose_server_is_down_from_the_start_fails_at_once(postgres_server, tmp_path):
    url = make_url(postgres_server.url).set(port=free_port()).render_as_string(
        hide_password=False)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        Store.open(url)
    assert time.monotonic() - started < 10


def test_a_transaction_cut_by_a_restart_fails_and_leaves_nothing_half_written(
        database_url, postgres_server):
    with Store.open(database_url) as store:
        store.register_pipeline("kept", {}, "h")
        now = utc_now()
        with pytest.raises(OperationalError):
            with store._write_engine.begin() as connection:
                connection.execute(insert(Pipeline.__table__).values(
                    name="half", definition={}, content_hash="h", created_at=now,
                    updated_at=now))
                postgres_server.restart()
                connection.execute(insert(Pipeline.__table__).values(
                    name="other-half", definition={}, content_hash="h", created_at=now,
                    updated_at=now))
        assert [p.name for p in store.list_pipelines()] == ["kept"]


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ci:s3cret-pw@db.example:5432/flowplan",
     "postgresql+psycopg://ci:***@db.example:5432/flowplan"),
    ("postgresql://ci:s3cret-pw@db.example:notaport/flowplan", "(an unreadable store URL)"),
])
def test_a_store_url_is_shown_without_its_password(url, shown):
    assert shown_url(url) == shown


def test_a_text_longer_than_its_column_is_refused_clearly_writing_nothing(database_url):
    with Store.open(database_url) as store:
        with pytest.raises(ValueTooLong) as refused:
            store.register_pipeline("x" * 300, {"secret-ish": "value"}, "h")
        assert str(refused.value) == (
            "a value is longer than the store keeps (value too long for type character "
            "varying(255)); nothing was written")
        assert store.list_pipelines() == []


def test_a_database_error_does_not_echo_the_values_written(database_url):
    from sqlalchemy.exc import IntegrityError

    with Store.open(database_url) as store:
        with pytest.raises(IntegrityError) as refused:
            with store._write_engine.begin() as connection:
                for _ in range(2):
                    connection.execute(insert(Pipeline.__table__).values(
                        name="twice-with-a-telling-name", definition={}, content_hash="h",
                        created_at=utc_now(), updated_at=utc_now()))
    assert "twice-with-a-telling-name" not in str(refused.value).split("DETAIL")[0]
    assert "hidden due to hide_parameters" in str(refused.value)
