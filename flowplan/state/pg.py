"""The `pg` state backend: the state in a PostgreSQL row, guarded by an advisory lock.

Holds `PgStateBackend` (read, write, exists, stamp, lock, lock_info, force_unlock: the methods of
flowplan.state.local.LocalStateBackend) and `shown_url` (a database URL without its password).
Tables, made on first use:

    flowplan_state        one row per team ("default" until teams exist): the state's JSON text
                          as the local backend writes it, its serial, lineage and format version
    flowplan_state_lock   one row per held (or left) lock: the holder's LockInfo as JSON, and the
                          backend pid of the database session that holds the advisory lock

How it stays consistent:

- A write reads the row's serial and lineage `FOR UPDATE` and replaces it in the same
  transaction, only when the row still has the serial and lineage the writer read: a stale or
  foreign write is refused (StateError), never merged. A write made under `lock()` also checks,
  in that transaction, that its session still holds the advisory lock and that the lock row is
  still its own: a lock lost to a database restart or to force-unlock writes nothing.
- The lock is a session-level advisory lock taken with pg_try_advisory_lock on a connection kept
  for the operation. PostgreSQL drops it when that session ends, however its process ends
  (SIGKILL, a lost connection, a restart); the lock row left behind then names a gone holder and
  is taken over by the next locker, who hears of it (StateLockTakenOver).
- `force_unlock ID` removes the lock row and ends the database session holding the advisory
  lock (pg_terminate_backend), so the lock is free at once; the forced holder's next write fails.

A URL is shown only without its password (`shown_url`), in messages and in the lock's path.
It leaves the meaning of the state to flowplan.state.model and the holder details to
flowplan.state.lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

from flowplan.events import EventSink, StateLockTakenOver, ignore
from flowplan.state.local import pretty_json
from flowplan.state.lock import LockInfo, StateLockedError, this_process
from flowplan.state.model import State, StateError

__all__ = ["PgStateBackend", "DEFAULT_TEAM", "URL_ENVIRONMENT", "shown_url", "driver_url"]

DEFAULT_TEAM = "default"
URL_ENVIRONMENT = "FLOWPLAN_STATE_URL"      # the url when `state { url }` is not set
LOCK_CLASS = 0x46504C53                     # "FPLS": the first key of the state locks
SCHEMA_LOCK_CLASS = 0x46504C54              # "FPLT": held while the tables are made
CONNECT_TIMEOUT = 10                        # seconds

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS flowplan_state (
           team       text PRIMARY KEY,
           version    integer NOT NULL,
           serial     bigint NOT NULL,
           lineage    text NOT NULL,
           state      text NOT NULL,
           updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS flowplan_state_lock (
           team        text PRIMARY KEY,
           id          text NOT NULL,
           info        text NOT NULL,
           session_pid integer NOT NULL,
           created_at  timestamptz NOT NULL DEFAULT now())""",
]


def driver_url(url: str) -> str:
    """`url` with the psycopg driver named, as SQLAlchemy wants it (postgres:// and
    postgresql:// are accepted as spelled by libpq)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise StateError(f'the pg state backend needs a postgresql:// URL, not "{shown_url(url)}"')


def shown_url(url: str) -> str:
    """`url` as it may be shown: its password replaced by ***."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "(not a URL)"
    authority, slash, path = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}{slash}{path.split('?', 1)[0]}"


def _lock_key(team: str) -> int:
    """The second advisory-lock key of `team`'s state: 31 bits of its SHA-256."""
    return int.from_bytes(hashlib.sha256(team.encode()).digest()[:4], "big") & 0x7FFFFFFF


class PgStateBackend:
    """State in PostgreSQL: one row of `flowplan_state` per team."""

    def __init__(self, url: str, team: str = DEFAULT_TEAM):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        self.url = driver_url(url)
        self.team = team
        self.shown = shown_url(url)
        try:
            self._password = make_url(self.url).password
            make_url(self.url).port                  # parsed lazily: a bad port fails here
        except (ValueError, ArgumentError) as error:
            reason = str(error).replace(url, self.shown).replace(self.url, self.shown)
            raise StateError(f"the pg state URL {self.shown} is not a valid database URL "
                             f"({reason})") from None
        self.path = f"{self.shown} (team {team})"    # where the state is, as messages name it
        self._key = _lock_key(team)
        self._engine = None
        self._schema_ready = False
        self._held: tuple[str, int] | None = None    # (lock id, session pid) while lock() runs
        self._stamp_connection = None                # stamp()'s own, opened on first use
        self._stamp_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PgStateBackend({self.shown!r}, team={self.team!r})"

    # -- connections ------------------------------------------------------------------------------

    def _database(self):
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(
                self.url, pool_pre_ping=True, pool_size=2, max_overflow=4,
                connect_args={"connect_timeout": CONNECT_TIMEOUT,
                              "application_name": "flowplan state"})
        return self._engine

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[Any]:
        """A connection in a transaction, committed at the end; database failures become a
        StateError naming `doing` and the URL without its password."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self._database().begin() as connection:
                self._ensure_schema(connection)
                yield connection
        except SQLAlchemyError as error:
            raise self._database_error(doing, error) from None

    def _database_error(self, doing: str, error: Exception) -> StateError:
        original = getattr(error, "orig", None) or error
        reason = str(original).strip().splitlines()[0] if str(original).strip() else \
            type(original).__name__
        reason = reason.replace(self.url, self.shown)
        if self._password:
            reason = reason.replace(self._password, "***")
        return StateError(f"cannot {doing} the state in {self.path}: {reason}")

    def _ensure_schema(self, connection) -> None:
        """Make the tables when they are missing (only then is CREATE on the schema needed)."""
        if self._schema_ready:
            return
        from sqlalchemy import text

        def missing() -> bool:
            return connection.execute(text(
                "SELECT to_regclass('flowplan_state') IS NULL "
                "OR to_regclass('flowplan_state_lock') IS NULL")).scalar()

        if missing():
            # Two first users at once would both create the tables: the second waits here.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k1, :k2)"),
                               {"k1": SCHEMA_LOCK_CLASS, "k2": 0})
            if missing():
                for statement in SCHEMA:
                    connection.execute(text(statement))
        self._schema_ready = True

    def close(self) -> None:
        """Close the pooled connections (a new one opens when needed)."""
        with self._stamp_lock:
            self._drop_stamp_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- state ------------------------------------------------------------------------------------

    def read(self) -> State:
        """The state in the team's row; a new empty state (not written yet) when there is none."""
        from sqlalchemy import text

        with self._transaction("read") as connection:
            row = connection.execute(text("SELECT state FROM flowplan_state WHERE team = :team"),
                                     {"team": self.team}).first()
        if row is None:
            return State()
        try:
            return State.from_dict(json.loads(row[0]))
        except ValueError as error:
            raise StateError(f"the state in {self.path} is not valid JSON ({error})") from None
        except StateError as error:
            raise StateError(f"{self.path}: {error}") from None

    def exists(self) -> bool:
        """Whether the team has a state row."""
        from sqlalchemy import text

        with self._transaction("read") as connection:
            return connection.execute(text("SELECT 1 FROM flowplan_state WHERE team = :team"),
                                      {"team": self.team}).first() is not None

    def drop(self) -> bool:
        """Delete the team's row (`flowplan team delete`); False when it had none. The caller
        holds the state lock."""
        from sqlalchemy import text

        with self._transaction("write") as connection:
            return connection.execute(text("DELETE FROM flowplan_state WHERE team = :team"),
                                      {"team": self.team}).rowcount > 0

    def stamp(self) -> tuple:
        """A cheap key that changes whenever the state is written: the row's serial, lineage and
        time of writing (every write bumps the serial; `migrate --force` replaces the row keeping
        its serial, but not its time). One query on a connection kept for it in autocommit mode,
        so one round trip (a pooled checkout would add a ping, a transaction two more); a
        connection that broke is replaced once. StateError when the database cannot be
        reached."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        if not self._schema_ready:
            with self._transaction("read"):
                pass
        query = text("SELECT serial, lineage, updated_at FROM flowplan_state WHERE team = :team")
        with self._stamp_lock:
            for attempt in (1, 2):
                try:
                    if self._stamp_connection is None:
                        self._stamp_connection = self._database().connect().execution_options(
                            isolation_level="AUTOCOMMIT")
                    row = self._stamp_connection.execute(query, {"team": self.team}).first()
                    break
                except SQLAlchemyError as error:
                    self._drop_stamp_connection()
                    if attempt == 2:
                        raise self._database_error("read", error) from None
        return ("pg", self.path, None) if row is None else ("pg", self.path, *row)

    def _drop_stamp_connection(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        if self._stamp_connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._stamp_connection.close()
            self._stamp_connection = None

    def write(self, state: State) -> None:
        """Bump `state.serial` and store `state`, only over the row it was read from.

        In one transaction: the row is locked, its serial and lineage compared with those of
        `state` before the bump (no row: only a state at serial 0 may be the first), the lock
        checked when this backend holds it, and the row replaced. When the write is refused or
        fails, the serial is put back and nothing is stored.
        """
        expected = state.serial
        state.serial += 1
        try:
            self._store(state, expected)
        except BaseException:
            state.serial -= 1
            raise

    def _store(self, state: State, expected_serial: int | None) -> None:
        """Store `state` as it is; `expected_serial` None replaces any row (migrate --force)."""
        from sqlalchemy import text

        data = pretty_json(state.to_dict()) + "\n"
        with self._transaction("write") as connection:
            self._check_still_locked(connection)
            row = connection.execute(
                text("SELECT serial, lineage FROM flowplan_state WHERE team = :team FOR UPDATE"),
                {"team": self.team}).first()
            values = {"team": self.team, "version": state.version, "serial": state.serial,
                      "lineage": state.lineage, "state": data}
            if row is None:
                if expected_serial not in (None, 0):
                    raise StateError(
                        f"refusing to write serial {state.serial} of the state to {self.path}: "
                        f"it has no state there, but this state was read at serial "
                        f"{expected_serial}. Somebody removed it meanwhile; run flowplan plan "
                        "again.")
                inserted = connection.execute(text(
                    "INSERT INTO flowplan_state (team, version, serial, lineage, state) "
                    "VALUES (:team, :version, :serial, :lineage, :state) "
                    "ON CONFLICT (team) DO NOTHING"), values)
                if inserted.rowcount != 1:
                    raise StateError(
                        f"refusing to write the state to {self.path}: another flowplan wrote a "
                        "first state there at the same moment. Run flowplan plan again.")
                return
            stored_serial, stored_lineage = row
            if expected_serial is not None:
                if stored_lineage != state.lineage:
                    raise StateError(
                        f"refusing to write the state to {self.path}: the state there has "
                        f"lineage {stored_lineage}, this one {state.lineage}. They are different "
                        "states; use flowplan state migrate --force to replace it on purpose.")
                if stored_serial != expected_serial:
                    raise StateError(
                        f"refusing to write a stale state to {self.path}: it was read at serial "
                        f"{expected_serial}, and the state there has been written since (serial "
                        f"{stored_serial}). Nothing was written; run flowplan plan again.")
            connection.execute(text(
                "UPDATE flowplan_state SET version = :version, serial = :serial, "
                "lineage = :lineage, state = :state, updated_at = now() WHERE team = :team"),
                values)

    def _check_still_locked(self, connection) -> None:
        """While lock() runs: refuse to write once the advisory lock or the lock row is lost."""
        if self._held is None:
            return
        from sqlalchemy import text

        lock_id, session_pid = self._held
        holds = connection.execute(text(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid "
            "AND classid = :k1 AND objid = :k2 AND objsubid = 2"),
            {"pid": session_pid, "k1": LOCK_CLASS, "k2": self._key}).first()
        row = connection.execute(text("SELECT id FROM flowplan_state_lock WHERE team = :team"),
                                 {"team": self.team}).first()
        if holds is None or row is None or row[0] != lock_id:
            raise StateError(
                f"the state lock on {self.path} was lost (its database session ended: the "
                "database restarted or the connection dropped, or somebody ran force-unlock). "
                "Nothing more was written; run flowplan plan again.")

    def replace(self, state: State) -> None:
        """Store `state` exactly as it is (serial and lineage kept), over whatever is there.

        For `flowplan state migrate`; call it under lock()."""
        self._store(state, None)

    # -- lock -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, on_event: EventSink = ignore) -> Iterator[LockInfo]:
        """Hold the state lock for `operation`; fails at once with StateLockedError when it is held.

        The advisory lock lives as long as a connection opened here for the operation. A lock
        row whose session is gone (the advisory lock was free) is taken over, and `on_event`
        hears of it. Released when the block exits, also on an exception.
        """
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        info = this_process(operation, str(uuid.uuid4()),
                            datetime.now(timezone.utc).isoformat(timespec="seconds"), self.path)
        if not self._schema_ready:
            with self._transaction("lock"):
                pass
        try:
            connection = self._database().connect().execution_options(
                isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as error:
            raise self._database_error("lock", error) from None
        try:
            try:
                taken = connection.execute(text("SELECT pg_try_advisory_lock(:k1, :k2)"),
                                           {"k1": LOCK_CLASS, "k2": self._key}).scalar()
                if not taken:
                    raise StateLockedError(self._holder_while_held(connection))
                session_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
                left = connection.execute(
                    text("DELETE FROM flowplan_state_lock WHERE team = :team RETURNING info"),
                    {"team": self.team}).first()
                connection.execute(text(
                    "INSERT INTO flowplan_state_lock (team, id, info, session_pid) "
                    "VALUES (:team, :id, :info, :pid)"),
                    {"team": self.team, "id": info.id, "info": json.dumps(info.to_dict()),
                     "pid": session_pid})
            except SQLAlchemyError as error:
                raise self._database_error("lock", error) from None
            if left is not None:
                old = _parse_info(left[0], self.path)
                on_event(StateLockTakenOver(self.path, old.holder, old.operation, old.created,
                                            old.id, "its database session has ended"))
            self._held = (info.id, session_pid)
            try:
                yield info
            finally:
                self._held = None
                with contextlib.suppress(SQLAlchemyError):
                    connection.execute(
                        text("DELETE FROM flowplan_state_lock WHERE team = :team AND id = :id"),
                        {"team": self.team, "id": info.id})
                    connection.execute(text("SELECT pg_advisory_unlock(:k1, :k2)"),
                                       {"k1": LOCK_CLASS, "k2": self._key})
        finally:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()    # ends the session's advisory lock if the unlock failed

    def _holder_while_held(self, connection) -> LockInfo:
        from sqlalchemy import text

        row = connection.execute(text("SELECT info FROM flowplan_state_lock WHERE team = :team"),
                                 {"team": self.team}).first()
        if row is None:   # taken a moment ago, its details not written yet, or released
            return LockInfo("unknown", "unknown (the holder has not written its details yet)",
                            "unknown", "unknown", self.path)
        return _parse_info(row[0], self.path)

    def lock_info(self) -> LockInfo | None:
        """Who holds the lock now (or held it and left its row), or None when nobody does."""
        from sqlalchemy import text

        with self._transaction("read the lock of") as connection:
            row = connection.execute(text(
                "SELECT info FROM flowplan_state_lock WHERE team = :team"),
                {"team": self.team}).first()
        return None if row is None else _parse_info(row[0], self.path)

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock, only when `lock_id` is the id of the lock held now, and end the
        database session holding it (the forced holder's next write fails)."""
        from sqlalchemy import text

        with self._transaction("unlock") as connection:
            row = connection.execute(text(
                "SELECT id, info, session_pid FROM flowplan_state_lock WHERE team = :team "
                "FOR UPDATE"), {"team": self.team}).first()
            if row is None:
                raise StateError(f"the state {self.path} is not locked")
            held_id, raw, session_pid = row
            if held_id != lock_id:
                held = _parse_info(raw, self.path)
                raise StateError(f"lock id mismatch: the lock on {self.path} has id {held_id} "
                                 f"(held by {held.holder} for {held.operation}), not {lock_id}")
            connection.execute(text("DELETE FROM flowplan_state_lock WHERE team = :team"),
                               {"team": self.team})
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND pid = :pid AND classid = :k1 AND objid = :k2 AND objsubid = 2"),
                {"pid": session_pid, "k1": LOCK_CLASS, "k2": self._key})


def _parse_info(raw: str, path: str) -> LockInfo:
    try:
        return LockInfo.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as error:
        raise StateError(f"the lock row of {path} is unreadable ({error}); if no flowplan is "
                         "running against this state, delete it: DELETE FROM flowplan_state_lock"
                         ) from None


def url_from(settings_url: str | None, environ: dict[str, str] | None = None) -> str:
    """The pg backend's URL: `state { url }`, else $FLOWPLAN_STATE_URL."""
    url = settings_url or (os.environ if environ is None else environ).get(URL_ENVIRONMENT)
    if not url:
        raise StateError(f'the pg state backend needs a database URL: set url = "postgresql://..."'
                         f" in the flowplan {{ state {{ }} }} block (e.g. url = "
                         f'env("{URL_ENVIRONMENT}")), or set {URL_ENVIRONMENT}')
    return url
