"""Users, API tokens, dashboard sessions and schedule ticks in the store.

The store keeps only what cannot authenticate anyone: a user's argon2id password hash, the
SHA-256 of an API token's secret part, the SHA-256 of a session's cookie value. Making and
checking them is `flowplan.server.auth`'s; the store refuses a value that does not look like a
hash, so clear text cannot reach the database by mistake. Adding and removing a user, changing
a password, and creating and revoking a token are recorded in `changes` (as role and secret
changes are, `flowplan.store.access`): who, when, which user and which token id, never a hash.

A token or session whose user is gone is not found: the lookups join `users`, and removing a
user removes its tokens and sessions in the same transaction.

Schedule ticks are what `flowplan.server.schedules` last did for each schedule (its note masked
as run errors are, flowplan.store.sensitive). `UserRecords` is
mixed into `flowplan.store.Store`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from flowplan.store.access import _record_change
from flowplan.store.schema import (ApiToken, LoginSession, ScheduleTick, TeamMember, User,
                                   utc_now)

USERS = User.__table__
TOKENS = ApiToken.__table__
SESSIONS = LoginSession.__table__
TICKS = ScheduleTick.__table__
MEMBERS = TeamMember.__table__
TEAM_JOIN = "team join"          # the kinds of `changes` rows membership writes
TEAM_LEAVE = "team leave"

USER_ADD, USER_REMOVE, USER_PASSWORD = "user add", "user rm", "user passwd"
TOKEN_CREATE, TOKEN_REVOKE = "token create", "token revoke"
MAX_USER_NAME = 100
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TOKEN_ID = re.compile(r"[A-Za-z0-9]{4,32}")
_PASSWORD_HASH = re.compile(r"\$argon2(id|i|d)\$\S+")


@dataclass(frozen=True)
class UserRecord:
    name: str
    password_hash: str
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class ApiTokenRecord:
    id: str
    user: str
    secret_hash: str            # SHA-256 (hex) of the token's secret part
    description: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class SessionRecord:
    id_hash: str                # SHA-256 (hex) of the cookie value
    user: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ScheduleTickRecord:
    schedule: str
    last_fired_at: datetime     # the latest fire time dealt with (or when first seen)
    last_commit: str | None     # the source head the last scheduled run started at
    last_run: str | None        # that run, `pipe#7`
    last_note: str | None       # what happened at the last tick that did something
    updated_at: datetime


def _user_name(name: object) -> str:
    if type(name) is not str or not name or len(name) > MAX_USER_NAME:
        raise ValueError(f"a user name is text of 1 to {MAX_USER_NAME} characters")
    return name


def _password_hash(value: object) -> str:
    if type(value) is not str or not _PASSWORD_HASH.fullmatch(value):
        raise ValueError("the store keeps argon2 password hashes only, not clear text")
    return value


def _sha256_hex(value: object, what: str) -> str:
    if type(value) is not str or not _SHA256_HEX.fullmatch(value):
        raise ValueError(f"{what} must be a SHA-256 hex digest: the store keeps no clear text")
    return value


def _token_id(value: object) -> str:
    if type(value) is not str or not _TOKEN_ID.fullmatch(value):
        raise ValueError("a token id is 4 to 32 letters and digits")
    return value


class UserRecords:
    """Users, tokens, sessions, schedule ticks. Mixed into Store, which provides the engines."""

    _engine: Engine
    _write_engine: Engine
    _masked_text: Callable[[str | None], str | None]     # SensitiveText's
    _owner: Callable[[], str]

    # -- users ----------------------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str, *, by: str | None = None) -> UserRecord:
        """Add a user with an argon2 password hash; ValueError when one of that name exists."""
        _user_name(name)
        _password_hash(password_hash)
        now = utc_now()
        with self._write_engine.begin() as connection:
            if connection.execute(select(USERS.c.name).where(USERS.c.name == name)).first():
                raise ValueError(f"there is already a user named {name}")
            connection.execute(insert(USERS).values(name=name, password_hash=password_hash,
                                                    created_at=now, created_by=by))
            _record_change(connection, self._owner(), USER_ADD, name, by=by)
        return UserRecord(name, password_hash, now, by)

    def set_password(self, name: str, password_hash: str, *, by: str | None = None,
                     rehash: bool = False) -> bool:
        """Replace the user's password hash; False when there is no such user.

        A new password ends the user's sessions (whoever was logged in with the old one must
        log in again) and is recorded in `changes`. A `rehash` (the same password hashed with
        new argon2 parameters, done on login by flowplan.server.auth) is neither."""
        _password_hash(password_hash)
        with self._write_engine.begin() as connection:
            changed = connection.execute(update(USERS).where(USERS.c.name == name)
                                         .values(password_hash=password_hash)).rowcount
            if changed and not rehash:
                connection.execute(delete(SESSIONS).where(SESSIONS.c.user == name))
                _record_change(connection, self._owner(), USER_PASSWORD, name, by=by)
            return changed > 0

    def get_user(self, name: str) -> UserRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(USERS).where(USERS.c.name == name)).first()
        return _user_record(row) if row is not None else None

    def list_users(self) -> list[UserRecord]:
        with self._engine.connect() as connection:
            return [_user_record(row) for row in
                    connection.execute(select(USERS).order_by(USERS.c.name))]

    def delete_user(self, name: str, *, by: str | None = None) -> bool:
        """Remove the user with its API tokens and sessions (its role memberships stay: roles
        name people, whether or not they log in); False when there was no such user."""
        with self._write_engine.begin() as connection:
            connection.execute(delete(TOKENS).where(TOKENS.c.user == name))
            connection.execute(delete(SESSIONS).where(SESSIONS.c.user == name))
            connection.execute(delete(MEMBERS).where(MEMBERS.c.user == name))
            deleted = connection.execute(delete(USERS).where(USERS.c.name == name)).rowcount
            if deleted:
                _record_change(connection, self._owner(), USER_REMOVE, name, by=by)
            return deleted > 0

    # -- API tokens -----------------------------------------------------------------------------

    def add_api_token(self, token_id: str, user: str, secret_hash: str, *,
                      description: str = "", by: str | None = None) -> ApiTokenRecord:
        """Record a token of `user` by its public id and the hash of its secret part;
        ValueError when the user does not exist or the id is taken."""
        _token_id(token_id)
        _sha256_hex(secret_hash, "a token's secret hash")
        now = utc_now()
        with self._write_engine.begin() as connection:
            if not connection.execute(select(USERS.c.name).where(USERS.c.name == user)).first():
                raise ValueError(f"there is no user named {user}")
            if connection.execute(select(TOKENS.c.id).where(TOKENS.c.id == token_id)).first():
                raise ValueError(f"there is already a token with id {token_id}")
            connection.execute(insert(TOKENS).values(
                id=token_id, user=user, secret_hash=secret_hash, description=description,
                created_at=now, last_used_at=None))
            _record_change(connection, self._owner(), TOKEN_CREATE, user, token_id, by=by)
        return ApiTokenRecord(token_id, user, secret_hash, description, now, None)

    def get_api_token(self, token_id: str) -> ApiTokenRecord | None:
        """The token, or None when there is none with that id or its user is gone."""
        statement = (select(TOKENS).join(USERS, USERS.c.name == TOKENS.c.user)
                     .where(TOKENS.c.id == token_id))
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return _token_record(row) if row is not None else None

    def list_api_tokens(self, user: str | None = None) -> list[ApiTokenRecord]:
        """Tokens (of `user`), by user then creation."""
        statement = select(TOKENS).order_by(TOKENS.c.user, TOKENS.c.created_at, TOKENS.c.id)
        if user is not None:
            statement = statement.where(TOKENS.c.user == user)
        with self._engine.connect() as connection:
            return [_token_record(row) for row in connection.execute(statement)]

    def touch_api_token(self, token_id: str) -> None:
        """Note that the token was used now."""
        with self._write_engine.begin() as connection:
            connection.execute(update(TOKENS).where(TOKENS.c.id == token_id)
                               .values(last_used_at=utc_now()))

    def delete_api_token(self, token_id: str, *, by: str | None = None) -> bool:
        """Revoke the token; False when there was none with that id."""
        with self._write_engine.begin() as connection:
            user = connection.execute(select(TOKENS.c.user)
                                      .where(TOKENS.c.id == token_id)).scalar_one_or_none()
            if user is None:
                return False
            connection.execute(delete(TOKENS).where(TOKENS.c.id == token_id))
            _record_change(connection, self._owner(), TOKEN_REVOKE, user, token_id, by=by)
            return True

    # -- dashboard sessions ---------------------------------------------------------------------

    def add_session(self, id_hash: str, user: str, csrf_token: str,
                    expires_at: datetime) -> SessionRecord:
        """Record a session by the hash of its cookie value; ValueError for an unknown user."""
        _sha256_hex(id_hash, "a session id hash")
        if type(csrf_token) is not str or not csrf_token:
            raise ValueError("a session needs a CSRF token")
        now = utc_now()
        with self._write_engine.begin() as connection:
            if not connection.execute(select(USERS.c.name).where(USERS.c.name == user)).first():
                raise ValueError(f"there is no user named {user}")
            connection.execute(insert(SESSIONS).values(id_hash=id_hash, user=user,
                                                       csrf_token=csrf_token, created_at=now,
                                                       expires_at=expires_at))
        return SessionRecord(id_hash, user, csrf_token, now, expires_at)

    def get_session(self, id_hash: str) -> SessionRecord | None:
        """The session, or None when there is none or its user is gone (expiry is the
        caller's to judge: it knows what time it is)."""
        statement = (select(SESSIONS).join(USERS, USERS.c.name == SESSIONS.c.user)
                     .where(SESSIONS.c.id_hash == id_hash))
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        return SessionRecord(row.id_hash, row.user, row.csrf_token, row.created_at,
                             row.expires_at)

    def delete_session(self, id_hash: str) -> bool:
        with self._write_engine.begin() as connection:
            return connection.execute(delete(SESSIONS)
                                      .where(SESSIONS.c.id_hash == id_hash)).rowcount > 0

    def purge_sessions(self, now: datetime) -> int:
        """Remove the sessions expired at `now`; how many."""
        with self._write_engine.begin() as connection:
            return connection.execute(delete(SESSIONS)
                                      .where(SESSIONS.c.expires_at <= now)).rowcount

    # -- team membership ------------------------------------------------------------------------

    def add_team_member(self, team: str, user: str, *, by: str | None = None) -> bool:
        """Make `user` a member of `team`; False when it was one already. KeyError when there
        is no such user."""
        from flowplan.store.database import _require_team

        _require_team(team)
        with self._write_engine.begin() as connection:
            if not connection.execute(select(USERS.c.name).where(USERS.c.name == user)).first():
                raise KeyError(f"no user {user!r}")
            if connection.execute(select(MEMBERS.c.user).where(
                    MEMBERS.c.user == user, MEMBERS.c.team == team)).first():
                return False
            connection.execute(insert(MEMBERS).values(user=user, team=team,
                                                      created_at=utc_now()))
            _record_change(connection, self._owner(), TEAM_JOIN, team, by=by, detail=user)
            return True

    def remove_team_member(self, team: str, user: str, *, by: str | None = None) -> bool:
        """`user` leaves `team`; False when it was not a member."""
        with self._write_engine.begin() as connection:
            removed = connection.execute(delete(MEMBERS).where(
                MEMBERS.c.user == user, MEMBERS.c.team == team)).rowcount
            if removed:
                _record_change(connection, self._owner(), TEAM_LEAVE, team, by=by, detail=user)
            return removed > 0

    def user_teams(self, user: str) -> list[str]:
        """The teams `user` is a member of, by name."""
        with self._engine.connect() as connection:
            return list(connection.execute(select(MEMBERS.c.team).where(
                MEMBERS.c.user == user).order_by(MEMBERS.c.team)).scalars())

    def team_members(self, team: str) -> list[str]:
        """The users who are members of `team`, by name."""
        with self._engine.connect() as connection:
            return list(connection.execute(select(MEMBERS.c.user).where(
                MEMBERS.c.team == team).order_by(MEMBERS.c.user)).scalars())

    def is_team_member(self, team: str, user: str) -> bool:
        with self._engine.connect() as connection:
            return connection.execute(select(MEMBERS.c.user).where(
                MEMBERS.c.user == user, MEMBERS.c.team == team)).first() is not None

    def forget_team(self, team: str) -> int:
        """Remove every row `team` owns (its runs with all they hold, pipelines, schedules,
        deployment groups, cache entries, deliveries, schedule ticks, secrets, role members) and
        its memberships, in one transaction (so a team made again under the name inherits
        none of it; `changes`, the record of who did what, is kept); the number of runs
        removed."""
        from flowplan.store.schema import (CacheEntry, Delivery, DeploymentGroup, Pipeline,
                                           RoleMember, Run, Schedule, Secret)

        with self._write_engine.begin() as connection:
            for model in (Delivery, CacheEntry, Schedule, DeploymentGroup, Pipeline, Secret,
                          RoleMember):
                connection.execute(delete(model.__table__).where(model.__table__.c.team == team))
            connection.execute(delete(TICKS).where(TICKS.c.team == team))
            connection.execute(delete(MEMBERS).where(MEMBERS.c.team == team))
            return connection.execute(delete(Run.__table__).where(
                Run.__table__.c.team == team)).rowcount

    def count_team_runs(self, team: str) -> int:
        """How many runs `team` has in the store."""
        from sqlalchemy import func

        from flowplan.store.schema import Run

        with self._engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Run.__table__).where(
                Run.__table__.c.team == team)).scalar_one()

    # -- schedule ticks -------------------------------------------------------------------------

    def get_schedule_tick(self, name: str) -> ScheduleTickRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(TICKS).where(TICKS.c.team == self._owner(),
                                                         TICKS.c.schedule == name)).first()
        if row is None:
            return None
        return ScheduleTickRecord(row.schedule, row.last_fired_at, row.last_commit, row.last_run,
                                  row.last_note, row.updated_at)

    def put_schedule_tick(self, name: str, *, last_fired_at: datetime,
                          last_commit: str | None = None, last_run: str | None = None,
                          last_note: str | None = None) -> None:
        """Record (or replace) what the scheduler last did for schedule `name`."""
        if type(name) is not str or not name:
            raise ValueError("a schedule tick needs the schedule's name")
        values = dict(last_fired_at=last_fired_at, last_commit=last_commit, last_run=last_run,
                      last_note=self._masked_text(last_note), updated_at=utc_now())
        with self._write_engine.begin() as connection:
            team = self._owner()
            changed = connection.execute(update(TICKS).where(TICKS.c.team == team,
                                                             TICKS.c.schedule == name)
                                         .values(**values)).rowcount
            if not changed:
                connection.execute(insert(TICKS).values(team=team, schedule=name, **values))


def _user_record(row) -> UserRecord:
    return UserRecord(row.name, row.password_hash, row.created_at, row.created_by)


def _token_record(row) -> ApiTokenRecord:
    return ApiTokenRecord(row.id, row.user, row.secret_hash, row.description, row.created_at,
                          row.last_used_at)
