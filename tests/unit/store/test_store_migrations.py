"""Schema versions through Alembic: create at the latest, upgrade an older store (one the
store's former runner made, at any version), refuse a newer one."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from flowplan.store import Revisions, SchemaVersionError, Store
from flowplan.store.migrations import REVISIONS, VERSIONS

LATEST = REVISIONS.latest()


def upto(version: int) -> Revisions:
    """The revisions that bring a store to `version`, no further."""
    return Revisions(target=version)


def extra_revision(tmp_path, body: str, name: str = "extra") -> Revisions:
    """The package's revisions and one more above them, its `upgrade()` running `body`."""
    directory = tmp_path / f"revisions-{name}"
    directory.mkdir()
    (directory / f"{LATEST + 1:04d}_{name}.py").write_text(
        "from alembic import op\n"
        "from sqlalchemy import text\n\n"
        f"revision = '{LATEST + 1:04d}'\ndown_revision = '{LATEST:04d}'\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n" + "".join(f"    {line}\n" for line in body.splitlines()))
    return Revisions(locations=(VERSIONS, directory))


def recorded_version(path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute(
            "SELECT value FROM flowplan_meta WHERE key = 'schema_version'").fetchone()[0])


ADD_EXTRA_TABLE = 'op.execute(text("CREATE TABLE extra (id INTEGER PRIMARY KEY, pipeline TEXT)"))'


def test_empty_database_is_created_at_the_latest_version(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        assert store.schema_version == LATEST == 10
    assert recorded_version(tmp_path / "store.db") == LATEST


def test_older_store_is_upgraded_by_the_steps_above_its_version_and_keeps_its_rows(tmp_path):
    with Store.open("sqlite:///store.db", base_dir=tmp_path) as store:
        store.register_pipeline("app", {"kept": True}, "h")

    revisions = extra_revision(tmp_path, ADD_EXTRA_TABLE)
    with Store.open("sqlite:///store.db", base_dir=tmp_path, revisions=revisions) as store:
        assert store.schema_version == LATEST + 1
        assert store.get_pipeline("app").definition == {"kept": True}

    assert recorded_version(tmp_path / "store.db") == LATEST + 1
    with sqlite3.connect(tmp_path / "store.db") as raw:
        assert raw.execute("SELECT count(*) FROM extra").fetchone()[0] == 0

    # already upgraded: opening again runs nothing
    marker = tmp_path / "ran"
    counting = extra_revision(tmp_path, f"open({str(marker)!r}, 'a').write('ran')", "counting")
    Store.open("sqlite:///store.db", base_dir=tmp_path, revisions=counting).close()
    assert not marker.exists()


def test_failed_upgrade_leaves_the_store_at_its_old_version(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()

    half_done = extra_revision(tmp_path, f"{ADD_EXTRA_TABLE}\nraise RuntimeError('step failed')")
    with pytest.raises(RuntimeError, match="step failed"):
        Store.open("sqlite:///store.db", base_dir=tmp_path, revisions=half_done)

    assert recorded_version(tmp_path / "store.db") == LATEST
    with sqlite3.connect(tmp_path / "store.db") as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in tables


def test_newer_store_is_refused_with_a_clear_error(tmp_path):
    Store.open("sqlite:///store.db", base_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("UPDATE flowplan_meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(SchemaVersionError, match=rf"schema version 99, newer than the {LATEST}"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_flowplan_tables_without_a_version_are_refused(tmp_path):
    with sqlite3.connect(tmp_path / "store.db") as raw:
        raw.execute("CREATE TABLE pipelines (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaVersionError, match="no flowplan_meta table"):
        Store.open("sqlite:///store.db", base_dir=tmp_path)


def test_revisions_must_be_numbered_consecutively(tmp_path):
    directory = tmp_path / "gap"
    directory.mkdir()
    (directory / f"{LATEST + 2:04d}_gap.py").write_text(
        f"revision = '{LATEST + 2:04d}'\ndown_revision = '{LATEST:04d}'\nbranch_labels = None\n"
        "depends_on = None\n\n\ndef upgrade():\n    pass\n")
    with pytest.raises(ValueError, match="consecutive"):
        Revisions(locations=(VERSIONS, directory)).latest()


def make_version_1_store(path) -> None:
    """A store as flowplan wrote it before run history existed."""
    from sqlalchemy import create_engine

    from flowplan.store.schema import Base, DeploymentGroup, Meta, Pipeline, Schedule

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        Base.metadata.create_all(connection, tables=[
            model.__table__ for model in (Meta, Pipeline, Schedule, DeploymentGroup)])
        connection.execute(Meta.__table__.insert().values(key="schema_version", value="1"))
    engine.dispose()


def shape(path_or_url) -> dict:
    """Tables with their columns (name, type, nullable), unique constraints and indexes."""
    from sqlalchemy import create_engine, inspect

    url = str(path_or_url)
    engine = create_engine(url if "://" in url else f"sqlite:///{url}")
    inspector = inspect(engine)
    result = {}
    for table in sorted(inspector.get_table_names()):
        result[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)],
            "unique": sorted(tuple(u["column_names"])
                             for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]))
                              for i in inspector.get_indexes(table)),
            "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                    f.get("options", {}).get("ondelete"))
                                   for f in inspector.get_foreign_keys(table)),
        }
    engine.dispose()
    return result


def test_version_1_store_upgraded_to_the_latest_has_the_shape_of_a_fresh_store(tmp_path):
    make_version_1_store(tmp_path / "old.db")
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:
        assert store.schema_version == LATEST
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()

    upgraded, fresh = shape(tmp_path / "old.db"), shape(tmp_path / "fresh.db")
    assert "runs" in upgraded and "log_chunks" in upgraded and "changes" in upgraded
    assert upgraded == fresh


def make_version_2_store(path) -> None:
    """A store as flowplan wrote it at version 2 (upgraded from 1 by the version-2 step), with
    a run, a step and an approval in it, written as that version's flowplan wrote them."""
    make_version_1_store(path)
    Store.open(f"sqlite:///{path}", revisions=upto(2)).close()
    with sqlite3.connect(path) as raw:
        now = "2024-05-01 10:00:00.000000"
        raw.execute("INSERT INTO runs (pipeline, number, status, trigger, user, variables, "
                    "definition, options, created_at, pid, host) VALUES ('app', 1, 'running', "
                    "'manual', 'alice', '{}', '{}', '{}', ?, 4242, 'h')", (now,))
        raw.execute("INSERT INTO task_runs (run_id, stage, stage_index, task, position, status, "
                    "attempt, failure_allowed) VALUES (1, 's', 0, 't', 0, 'running', 1, 0)")
        raw.execute("INSERT INTO step_runs (run_id, task_run_id, stage, task, step, type, "
                    "position, attempt, status, pid, log_lines, log_bytes, log_dropped) VALUES "
                    "(1, 1, 's', 't', 'x', 'command', 0, 1, 'running', 4343, 0, 0, 0)")
        raw.execute("INSERT INTO approvals (run_id, stage, user, decision, comment, at) "
                    "VALUES (1, 's', 'bob', 'approve', 'ok', ?)", (now,))


def test_version_2_store_is_upgraded_keeping_its_runs_and_approvals(tmp_path):
    make_version_2_store(tmp_path / "old.db")
    assert recorded_version(tmp_path / "old.db") == 2
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:
        assert store.schema_version == LATEST
        run = store.find_run("app", 1)
        assert (run.pid, run.pid_start_time, run.boot_id) == (4242, None, None)
        step = store.step_runs(run.id)[0]
        assert (step.pid, step.pid_start_time, step.boot_id) == (4343, None, None)
        approval, = store.approvals(run.id)
        assert (approval.user, approval.comment, approval.os_user, approval.uid) == \
            ("bob", "ok", None, None)
        # what version 3 records works on the upgraded store
        store.grant_role("release", "carol", by="dave")
        assert [(c.kind, c.subject, c.detail, c.as_user) for c in store.changes()] == [
            ("role grant", "release", "carol", "dave")]
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()
    assert shape(tmp_path / "old.db") == shape(tmp_path / "fresh.db")


def test_version_3_store_is_upgraded_to_4_with_step_summaries(tmp_path):
    make_version_2_store(tmp_path / "old.db")
    Store.open(f"sqlite:///{tmp_path / 'old.db'}", revisions=upto(3)).close()
    assert recorded_version(tmp_path / "old.db") == 3
    Store.open("sqlite:///old.db", base_dir=tmp_path, revisions=upto(4)).close()
    assert recorded_version(tmp_path / "old.db") == 4
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:   # today's code: latest
        assert store.schema_version == LATEST
        run = store.find_run("app", 1)
        step = store.step_runs(run.id)[0]
        assert (step.pid, step.summary) == (4343, None)
        summary = {"title": "2 tests, 1 failed", "lines": ["FooTest.bar: boom"], "failed": 1}
        store.record(steps=[(step.id, {"summary": summary})])
        assert store.step_runs(run.id)[0].summary == summary


def test_version_4_store_is_upgraded_to_5_with_deploy_host_records(tmp_path):
    make_version_2_store(tmp_path / "old.db")
    Store.open(f"sqlite:///{tmp_path / 'old.db'}", revisions=upto(4)).close()
    assert recorded_version(tmp_path / "old.db") == 4
    Store.open("sqlite:///old.db", base_dir=tmp_path, revisions=upto(5)).close()
    assert recorded_version(tmp_path / "old.db") == 5
    with Store.open("sqlite:///old.db", base_dir=tmp_path) as store:   # today's code: latest
        assert store.schema_version == LATEST
        run = store.find_run("app", 1)
        step = store.step_runs(run.id)[0]
        store.plan_deploy_hosts(run.id, step.id, [("web1", 1, "queued", None),
                                                  ("web2", 2, "queued", {"address": "h2"})])
        store.update_deploy_host(step.id, "web1", status="failed", exit_code=3, error="boom")
        assert [(h.host, h.batch, h.status, h.exit_code, h.error, h.detail)
                for h in store.deploy_hosts(run.id)] == [
            ("web1", 1, "failed", 3, "boom", None), ("web2", 2, "queued", None, None, {"address": "h2"})]
        store.add_approval(run.id, stage="s", task="t", step="x", step_run_id=step.id,
                           user="bob", decision="resume")
    Store.open("sqlite:///old.db", base_dir=tmp_path).close()      # on to the latest
    Store.open("sqlite:///fresh.db", base_dir=tmp_path).close()
    assert shape(tmp_path / "old.db") == shape(tmp_path / "fresh.db")


@pytest.mark.parametrize("version", range(1, LATEST))
def test_store_built_at_an_older_version_upgrades_to_the_shape_of_a_fresh_store(new_store_url,
                                                                                version):
    old, fresh = new_store_url(), new_store_url()
    with Store.open(old, revisions=upto(version)) as store:
        assert store.schema_version == version
        with store._write_engine.begin() as connection:    # as that version's flowplan wrote it
            connection.execute(text(
                "INSERT INTO pipelines (name, definition, content_hash, created_at, updated_at) "
                "VALUES ('app', '{\"kept\": true}', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with Store.open(old) as store:
        assert store.schema_version == LATEST
        assert store.get_pipeline("app").definition == {"kept": True}
        assert store.for_team("blue").get_pipeline("app") is None
    Store.open(fresh).close()
    assert shape(old) == shape(fresh)
