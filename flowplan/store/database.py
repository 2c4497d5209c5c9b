"""The store gateway: `Store`, the one object that reads and writes the store database.

It opens the database from an SQLAlchemy URL (a relative SQLite path is taken from the config
directory), brings the schema to the latest version (`flowplan.store.migrations`), and offers one
method per question or change. It hands out frozen records, never ORM objects.

Each call opens its own Session and a short transaction, so one Store is shared by the threads
`apply` runs providers in. The database is SQLite (a file on this machine) or PostgreSQL
(`postgresql://`, driven by psycopg 3), shared by the machines of a team. On PostgreSQL the pool
pings a connection before handing it out, so after a server restart the next call reconnects,
and a transaction cut short by it is rolled back whole; concurrent writers there are kept apart
by row locks (`FOR UPDATE`) and unique constraints, whose IntegrityError the writers that race
(registering, numbering runs, claiming deliveries) retry or report.

On SQLite the connection runs in WAL mode with foreign keys on, and a write begins with BEGIN
IMMEDIATE: the writer takes the lock before it reads, so concurrent writers wait for each other
instead of failing on a stale snapshot. Before it, a writer takes its turn among flowplan's
writers (flowplan.store.sqlite_turns: threads queue on a lock, processes on a file lock), so that
SQLite's busy handler, which sleeps up to 100 ms between its tries, is not what orders them:
dozens of `flowplan run` processes and celery workers writing to one store at once each get
their turn in milliseconds. A writer waits up to `SQLITE_BUSY_TIMEOUT_MS` for it; past the
bound, `StoreBusy` says so. Opening a store whose schema is
current only reads, so starting many processes at once does not queue them all for the write
lock. `synchronous` is NORMAL: in WAL mode a commit survives a crash of the process (what run
history needs: the executor commits every transition before acting), and only an OS crash or
power loss can lose the last commits; FULL would fsync on every commit and cost ~10x per
recorded transition.

A SQLite store holds run history and encrypted secrets, and whoever can open it can approve,
cancel and read everything: its file is created 0600 (SQLite gives its -wal, -shm and -journal
files the database file's mode) and existing ones of flowplan's user are brought back to 0600; a
directory made for it is 0711, passable but not listable.

Run history (runs, logs, approvals, artifacts, caches, secrets, roles) and webhook deliveries are
in the mixins of `runs`, `logs`, `gates`, `caches`, `access` and `deliveries`; users, API
tokens, sessions and schedule ticks in `users`; the masking of sensitive values in what they
record in `sensitive`; this module holds the engine and the registered pipelines, schedules and
deployment groups.

What a definition means is left to the callers (the `flowplan` provider, the executor); the store
only insists it is JSON data, so that a `Sensitive` value can never reach the database.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.pool import StaticPool

from flowplan.store.access import AccessRecords
from flowplan.store.caches import CacheIndex
from flowplan.store.deliveries import DeliveryRecords
from flowplan.store.deploys import DeployHistory
from flowplan.store.gates import GateHistory
from flowplan.store.json_data import require_json_data
from flowplan.store.logs import LogHistory
from flowplan.store.migrations import REVISIONS, Revisions, prepare_schema, read_version
from flowplan.store.recording import Recorder
from flowplan.store.runs import RunHistory
from flowplan.store.schema import DeploymentGroup, LogChunk, Pipeline, Schedule, utc_now
from flowplan.store.sensitive import SensitiveText
from flowplan.store.sqlite_turns import (LOCK_SUFFIX, TurnConnection, TurnTimeout, WriterTurns,
                                         connection_class)
from flowplan.store.users import UserRecords
from flowplan.store.workers import WorkerRecords

SQLITE_BUSY_TIMEOUT_MS = 60_000   # how long a write waits for the lock before StoreBusy
RECONNECT_WAIT_SECONDS = 30.0     # how long a store that was connected waits for its server back
_WRITE_OPTION = "flowplan_store_write"   # execution option: this transaction will write

Row = TypeVar("Row", Pipeline, Schedule, DeploymentGroup)


@dataclass(frozen=True)
class PipelineRecord:
    id: int
    name: str
    definition: dict[str, Any]
    content_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ScheduleRecord:
    id: int
    name: str
    pipeline: str              # the address of the pipeline it starts, e.g. "pipeline.app"
    cron: str
    timezone: str              # an IANA zone name
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeploymentGroupRecord:
    id: int
    name: str
    environment: str
    definition: dict[str, Any]  # the whole block, hosts included
    created_at: datetime
    updated_at: datetime


class StoreBusy(Exception):
    """The store stayed locked by other writers for longer than a write waits."""


class ValueTooLong(ValueError):
    """A text longer than its column: PostgreSQL refuses it (SQLite keeps it whole)."""


STRING_TOO_LONG = "22001"      # PostgreSQL's SQLSTATE string_data_right_truncation


def _require_text(value: Any, what: str) -> None:
    if type(value) is not str or not value:
        raise ValueError(f"{what} must be a non-empty string, got {type(value).__name__}")


POSTGRESQL_DRIVER = "postgresql+psycopg"     # psycopg 3: `postgresql://` means it here
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


def resolve_url(url: str, base_dir: Path | None = None) -> URL:
    """The URL to connect to: a relative SQLite path is made absolute from `base_dir` (default: the
    current directory); `postgresql://` and `postgres://` are driven by psycopg 3; other URLs are
    returned as parsed. An unreadable URL is a ValueError that does not repeat it (it may hold a
    password)."""
    scheme, _sep, rest = url.partition("://")
    if scheme in POSTGRESQL_SCHEMES:
        url = f"{POSTGRESQL_DRIVER}://{rest}"
    try:
        parsed = make_url(url)
    except Exception as error:          # ArgumentError, ValueError (a bad port): said once
        raise ValueError(f"the store URL ({scheme or 'no'} scheme) is not a valid database URL "
                         "(sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE)"
                         ) from None
    if parsed.get_backend_name() != "sqlite":
        return parsed
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return parsed
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return parsed.set(database=str(path.resolve()))


def shown_url(url: str) -> str:
    """`url` fit for a message: its password replaced by ***, the whole URL withheld when it
    cannot be read (it may still hold one)."""
    try:
        return resolve_url(url).render_as_string(hide_password=True)
    except ValueError:
        return "(an unreadable store URL)"


PRIVATE_FILE_MODE = 0o600
PASSAGE_MODE = 0o711
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", LOCK_SUFFIX)


def _private_database_file(path: Path) -> None:
    """The SQLite file exists, readable by flowplan's user only, with its companions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, PASSAGE_MODE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, PRIVATE_FILE_MODE)     # whatever the umask
        os.close(fd)
    for name in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            info = os.stat(name)
        except OSError:
            continue
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(name, stat.S_IMODE(info.st_mode) & ~0o077)


def _without_nul(parameters: Any) -> Any:
    """Statement parameters with NUL characters in text replaced by U+FFFD (as log lines get):
    PostgreSQL text cannot hold NUL, and a user name or an error message holding one must not
    make the write fail."""
    if isinstance(parameters, str):
        return parameters.replace("\0", "\ufffd") if "\0" in parameters else parameters
    if isinstance(parameters, dict):
        return {key: _without_nul(value) for key, value in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return type(parameters)(_without_nul(value) for value in parameters)
    return parameters


def _wait_through_restarts(engine: Engine) -> None:
    """Once connected, ride out a database server restart instead of failing the caller.

    A run writes its logs and statuses as it goes; a PostgreSQL restart of a few seconds under
    it must not fail the run. So a new connection, once one has succeeded, is retried for up to
    `RECONNECT_WAIT_SECONDS`. The first connection is not retried: a wrong URL or a database
    that is down when a command starts fails at once with the driver's message.
    """
    connected = False

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, _record: Any) -> None:
        nonlocal connected
        connected = True

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if not connected:
            return None                       # the default connect, errors and all
        deadline = time.monotonic() + RECONNECT_WAIT_SECONDS
        delay = 0.1
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        # hide_parameters: an error says what failed, never the values written (names, hashes)
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        _wait_through_restarts(engine)
        if url.get_backend_name() == "postgresql":
            @event.listens_for(engine, "before_cursor_execute", retval=True)
            def _on_execute(_connection: Any, _cursor: Any, statement: str, parameters: Any,
                            _context: Any, _executemany: bool) -> tuple[str, Any]:
                return statement, _without_nul(parameters)

            @event.listens_for(engine, "handle_error")
            def _on_pg_error(context: Any) -> None:
                original = context.original_exception
                if getattr(original, "sqlstate", None) == STRING_TOO_LONG:
                    detail = str(original).splitlines()[0]
                    raise ValueTooLong(f"a value is longer than the store keeps ({detail}); "
                                       "nothing was written") from None
        return engine

    in_memory = not url.database or url.database == ":memory:"
    if in_memory:  # one shared connection, or every thread would see its own empty database
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        _private_database_file(Path(url.database))
        turns = WriterTurns(Path(url.database), SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "factory": connection_class(turns)})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so DDL is
        # transactional and writes can begin IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")   # first: all wait
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        if not writes:
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        take_turn(dbapi_connection, url)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            give_back_turn(dbapi_connection)
            raise

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        original = context.original_exception
        if isinstance(original, sqlite3.OperationalError) and "locked" in str(original):
            raise StoreBusy(busy_message(url.render_as_string(hide_password=True))) from original

    return engine


DEFAULT_TEAM = "default"
TEAM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def _require_team(team: object) -> None:
    if type(team) is not str or not TEAM_NAME.fullmatch(team):
        raise ValueError(f"{team!r} is not a team name: lower-case letters, digits, _ and -, "
                         "starting with a letter or a digit, at most 63 characters")


def _upgrade(engine: Engine, revisions: Revisions) -> int:
    """Create or upgrade the schema in one write transaction. On SQLite foreign keys are off
    meanwhile (`PRAGMA foreign_keys` cannot change inside a transaction): a revision that
    rebuilds a table (copy, drop, rename) must not cascade the drop to the rows pointing at it;
    the revision checks them with `PRAGMA foreign_key_check` before the commit."""
    writer = engine.execution_options(**{_WRITE_OPTION: True})
    if engine.dialect.name != "sqlite":
        with writer.begin() as connection:
            return prepare_schema(connection, revisions)
    with writer.connect() as connection:
        raw = connection.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys=OFF")          # outside any transaction: it applies
        try:
            with connection.begin():
                return prepare_schema(connection, revisions)
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def take_turn(dbapi_connection: Any, url: URL) -> None:
    """Before a write transaction on a SQLite file: this writer's turn (sqlite_turns)."""
    if isinstance(dbapi_connection, TurnConnection):
        try:
            dbapi_connection.take_turn()
        except TurnTimeout:
            raise StoreBusy(busy_message(url.render_as_string(hide_password=True))) from None


def give_back_turn(dbapi_connection: Any) -> None:
    if isinstance(dbapi_connection, TurnConnection):
        dbapi_connection.give_back_turn()


def busy_message(url: str) -> str:
    """What to say when the store at `url` stayed locked past the busy timeout."""
    return (f"the store {url} stayed locked by other processes writing to it for "
            f"{SQLITE_BUSY_TIMEOUT_MS / 1000:g} s: try again "
            "(a PostgreSQL store serves many concurrent runs better)")


class Store(RunHistory, LogHistory, GateHistory, DeployHistory, CacheIndex, AccessRecords,
            UserRecords, DeliveryRecords, WorkerRecords, SensitiveText):
    """Gateway to the store database. Build it with `Store.open`; share it between threads."""

    def __init__(self, engine: Engine, schema_version: int, team: str | None = DEFAULT_TEAM
                 ) -> None:
        self._init_sensitive()
        self._team = team
        self._engine = engine
        self._write_engine = engine.execution_options(**{_WRITE_OPTION: True})
        self._recorder = Recorder(self._write_engine, LogChunk.__table__,
                                  lambda connection: take_turn(connection, engine.url))
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**{_WRITE_OPTION: True}),
                                    expire_on_commit=False)
        self.schema_version = schema_version

    @classmethod
    def open(cls, url: str, base_dir: Path | None = None, *, team: str | None = DEFAULT_TEAM,
             revisions: Revisions = REVISIONS) -> Store:
        """Connect, then create the schema (empty database) or upgrade it (older version).

        `url` is an SQLAlchemy URL: `sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST/DB`
        (driven by psycopg 3). Raises `SchemaVersionError` for a database newer than `revisions`
        know, or one holding flowplan tables without a version.

        Every pipeline, schedule, deployment group, run (with its tasks, steps, logs, approvals,
        artifacts and deploy records), cache entry, schedule tick and delivery read or written
        through the store is `team`'s. `team=None` reads every team's runs by id and writes none
        of the rows a team owns: for workers, which execute the tasks of every team's runs and
        scope themselves with `for_team(run.team)`. Users, tokens and sessions are global;
        secrets, roles and their changes are the team's (flowplan.store.access).
        """
        if team is not None:
            _require_team(team)
        engine = _create_engine(resolve_url(url, Path(base_dir) if base_dir is not None else None))
        try:
            with engine.connect() as connection:    # most opens find the schema current: a read
                version = read_version(connection)
            if version != revisions.latest():
                version = _upgrade(engine, revisions)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, version, team)

    @property
    def team(self) -> str | None:
        """The team whose rows this store reads and writes (None: every team's, by id)."""
        return self._team

    def for_team(self, team: str) -> Store:
        """This store (the same engine and connections) scoped to `team`; closing either closes
        both."""
        _require_team(team)
        scoped = copy.copy(self)
        scoped._team = team
        return scoped

    def _owner(self) -> str:
        """The team new rows belong to; a store opened for every team creates none."""
        if self._team is None:
            raise ValueError("this store was opened for every team (a worker's): it reads runs "
                             "by id but creates no team's rows; scope it with for_team(TEAM)")
        return self._team

    @property
    def url(self) -> str:
        """The database URL, password hidden: fit for messages."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- pipelines ------------------------------------------------------------------------------

    def register_pipeline(self, name: str, definition: dict[str, Any],
                          content_hash: str) -> PipelineRecord:
        """Insert the pipeline, or update the one registered under `name`."""
        _require_text(content_hash, "content_hash")
        row = self._register(Pipeline, name, definition=definition, content_hash=content_hash)
        return _pipeline_record(row)

    def get_pipeline(self, name: str) -> PipelineRecord | None:
        row = self._get(Pipeline, name)
        return _pipeline_record(row) if row is not None else None

    def list_pipelines(self) -> list[PipelineRecord]:
        return [_pipeline_record(row) for row in self._list(Pipeline)]

    def delete_pipeline(self, name: str) -> bool:
        """Remove the pipeline; False when none was registered under `name`."""
        return self._delete(Pipeline, name)

    # -- schedules ------------------------------------------------------------------------------

    def register_schedule(self, name: str, pipeline: str, cron: str, timezone: str,
                          definition: dict[str, Any]) -> ScheduleRecord:
        """Insert the schedule, or update the one registered under `name`."""
        _require_text(pipeline, "schedule pipeline")
        _require_text(cron, "schedule cron")
        _require_text(timezone, "schedule timezone")
        row = self._register(Schedule, name, pipeline=pipeline, cron=cron, timezone=timezone,
                             definition=definition)
        return _schedule_record(row)

    def get_schedule(self, name: str) -> ScheduleRecord | None:
        row = self._get(Schedule, name)
        return _schedule_record(row) if row is not None else None

    def list_schedules(self) -> list[ScheduleRecord]:
        return [_schedule_record(row) for row in self._list(Schedule)]

    def delete_schedule(self, name: str) -> bool:
        return self._delete(Schedule, name)

    # -- deployment groups ----------------------------------------------------------------------

    def register_deployment_group(self, name: str, environment: str,
                                  definition: dict[str, Any]) -> DeploymentGroupRecord:
        """Insert the deployment group, or update the one registered under `name`."""
        _require_text(environment, "deployment group environment")
        row = self._register(DeploymentGroup, name, environment=environment,
                             definition=definition)
        return _deployment_group_record(row)

    def get_deployment_group(self, name: str) -> DeploymentGroupRecord | None:
        row = self._get(DeploymentGroup, name)
        return _deployment_group_record(row) if row is not None else None

    def list_deployment_groups(self) -> list[DeploymentGroupRecord]:
        return [_deployment_group_record(row) for row in self._list(DeploymentGroup)]

    def delete_deployment_group(self, name: str) -> bool:
        return self._delete(DeploymentGroup, name)

    # -- shared by the three kinds --------------------------------------------------------------

    def _register(self, model: type[Row], name: str, *, definition: dict[str, Any],
                  **columns: Any) -> Row:
        _require_text(name, f"{model.__tablename__} name")
        if type(definition) is not dict:
            raise ValueError(f"the definition of {model.__tablename__} {name!r} must be a dict, "
                             f"got {type(definition).__name__}")
        require_json_data(definition, f"the definition of {model.__tablename__} {name!r}")
        values = {**columns, "definition": copy.deepcopy(definition), "team": self._owner()}
        # Two attempts: on PostgreSQL a concurrent insert of the same name can win the race;
        # the retry then finds its row and updates it. On SQLite BEGIN IMMEDIATE prevents that.
        for attempt in (1, 2):
            try:
                with self._writes.begin() as session:
                    return self._insert_or_update(session, model, name, dict(values))
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _insert_or_update(session: Session, model: type[Row], name: str,
                          values: dict[str, Any]) -> Row:
        now = utc_now()
        team = values.pop("team")
        row = session.scalars(select(model).where(model.team == team, model.name == name)
                              .with_for_update()).one_or_none()
        if row is None:
            row = model(name=name, team=team, created_at=now, updated_at=now, **values)
            session.add(row)
        elif any(not _same_json(getattr(row, key), value) for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            flag_modified(row, "definition")  # JSON == compares true equal to 1: force the write
            row.updated_at = now
        session.flush()
        return row

    def _get(self, model: type[Row], name: str) -> Row | None:
        with self._reads() as session:
            return session.scalars(select(model).where(
                model.team == self._owner(), model.name == name)).one_or_none()

    def _list(self, model: type[Row]) -> list[Row]:
        with self._reads() as session:
            return list(session.scalars(select(model).where(model.team == self._owner())
                                        .order_by(model.name)))

    def _delete(self, model: type[Row], name: str) -> bool:
        with self._writes.begin() as session:
            result = session.execute(delete(model).where(model.team == self._owner(),
                                                         model.name == name))
            return result.rowcount > 0


def _same_json(left: Any, right: Any) -> bool:
    """Equal as JSON: unlike ==, true and 1 differ."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _pipeline_record(row: Pipeline) -> PipelineRecord:
    return PipelineRecord(id=row.id, name=row.name, definition=copy.deepcopy(row.definition),
                          content_hash=row.content_hash, created_at=row.created_at,
                          updated_at=row.updated_at)


def _schedule_record(row: Schedule) -> ScheduleRecord:
    return ScheduleRecord(id=row.id, name=row.name, pipeline=row.pipeline, cron=row.cron,
                          timezone=row.timezone, definition=copy.deepcopy(row.definition),
                          created_at=row.created_at, updated_at=row.updated_at)


def _deployment_group_record(row: DeploymentGroup) -> DeploymentGroupRecord:
    return DeploymentGroupRecord(id=row.id, name=row.name, environment=row.environment,
                                 definition=copy.deepcopy(row.definition),
                                 created_at=row.created_at, updated_at=row.updated_at)
