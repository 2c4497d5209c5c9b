"""Secrets and roles in the store, and who changed them.

A secret is kept as the token `flowplan.executor.secrets.SecretBox` makes of it: the store never
sees clear text and cannot decrypt. A role is a named set of users; `manual_approval` steps list
roles whose members may approve. Both belong to a team (schema version 10): a store reads and
writes its team's secrets and roles only, so a pipeline of one team cannot open another's
secret, and a role granted in one team lets nobody approve in another. A store opened for
every team (a worker's) refuses them, as it refuses to create runs: `for_team(run.team)` first.

Every change to either is recorded in `changes`, in the same transaction, with the
operating-system account that made it (stamped by the store itself), the name it gave (`by`:
`--as`, else $USER), which is only claimed, and the team of the store that made it. Users, API
tokens, worker tokens and memberships are global, and so are their changes (recorded here too,
by `users` and `workers`): `changes()` lists a team's secret and role changes with every change
of what is global. `AccessRecords` is mixed into `flowplan.store.Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from flowplan import processes
from flowplan.store.gates import account_as
from flowplan.store.schema import Change, RoleMember, Secret, utc_now

SECRETS = Secret.__table__
MEMBERS = RoleMember.__table__
CHANGES = Change.__table__
TOKEN_PREFIXES = ("fernet-",)
ROLE_GRANT, ROLE_REVOKE = "role grant", "role revoke"
SECRET_SET, SECRET_REMOVE = "secret set", "secret rm"
TEAM_KINDS = (ROLE_GRANT, ROLE_REVOKE, SECRET_SET, SECRET_REMOVE)   # changes of a team's rows


@dataclass(frozen=True)
class ChangeRecord:
    id: int
    at: datetime
    os_user: str                # the operating-system account that made the change
    uid: int
    as_user: str | None         # the name it gave
    kind: str                   # role grant, role revoke, secret set, secret rm
    subject: str                # the role or the secret
    detail: str | None          # the user granted or revoked a role
    team: str                   # the team of the store that made the change

    @property
    def changed_by(self) -> str:
        """`root as alice` when the account and the name differ, else the account."""
        return account_as(self.os_user, self.as_user)


class AccessRecords:
    _engine: Engine
    _write_engine: Engine
    _owner: Callable[[], str]

    # -- secrets --------------------------------------------------------------------------------

    def put_secret(self, name: str, token: str, *, by: str | None = None) -> None:
        """Store (or replace) the encrypted token of the team's secret `name`; `by` is the
        name of who does it."""
        if not name:
            raise ValueError("a secret needs a name")
        if not token.startswith(TOKEN_PREFIXES):
            raise ValueError("the store keeps encrypted secret tokens only, not clear text")
        team = self._owner()
        # Two attempts: on PostgreSQL a concurrent first `set` of the name can insert between
        # this one's update and insert; the retry then updates its row. (SQLite's BEGIN
        # IMMEDIATE keeps writers apart.)
        for attempt in (1, 2):
            now = utc_now()
            try:
                with self._write_engine.begin() as connection:
                    changed = connection.execute(update(SECRETS).where(
                        SECRETS.c.team == team, SECRETS.c.name == name)
                        .values(token=token, updated_at=now)).rowcount
                    if not changed:
                        connection.execute(insert(SECRETS).values(
                            team=team, name=name, token=token, created_at=now, updated_at=now))
                    _record_change(connection, team, SECRET_SET, name, by=by)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def get_secret_token(self, name: str) -> str | None:
        """The token of the team's secret `name`; None when the team has none of that name
        (whether another team has one is not told)."""
        team = self._owner()
        with self._engine.connect() as connection:
            return connection.execute(select(SECRETS.c.token).where(
                SECRETS.c.team == team, SECRETS.c.name == name)).scalar_one_or_none()

    def secret_names(self) -> list[str]:
        """The names of the team's secrets."""
        team = self._owner()
        with self._engine.connect() as connection:
            return list(connection.execute(select(SECRETS.c.name).where(SECRETS.c.team == team)
                                           .order_by(SECRETS.c.name)).scalars())

    def delete_secret(self, name: str, *, by: str | None = None) -> bool:
        team = self._owner()
        with self._write_engine.begin() as connection:
            deleted = connection.execute(delete(SECRETS).where(
                SECRETS.c.team == team, SECRETS.c.name == name)).rowcount
            if deleted:
                _record_change(connection, team, SECRET_REMOVE, name, by=by)
            return deleted > 0

    # -- roles ----------------------------------------------------------------------------------

    def grant_role(self, role: str, user: str, *, by: str | None = None) -> bool:
        """Make `user` a member of the team's `role`; False when it already was. `by` is the
        name of who does it."""
        if not role or not user:
            raise ValueError("a role grant needs a role and a user")
        team = self._owner()
        try:
            with self._write_engine.begin() as connection:
                exists = connection.execute(select(MEMBERS.c.user).where(
                    MEMBERS.c.team == team, MEMBERS.c.role == role,
                    MEMBERS.c.user == user)).first()
                if exists:
                    return False
                connection.execute(insert(MEMBERS).values(team=team, role=role, user=user,
                                                          created_at=utc_now()))
                _record_change(connection, team, ROLE_GRANT, role, user, by=by)
                return True
        except IntegrityError:        # granted by a concurrent grant (PostgreSQL) meanwhile
            return False

    def revoke_role(self, role: str, user: str, *, by: str | None = None) -> bool:
        team = self._owner()
        with self._write_engine.begin() as connection:
            revoked = connection.execute(delete(MEMBERS).where(
                MEMBERS.c.team == team, MEMBERS.c.role == role, MEMBERS.c.user == user)).rowcount
            if revoked:
                _record_change(connection, team, ROLE_REVOKE, role, user, by=by)
            return revoked > 0

    def role_members(self, role: str) -> list[str]:
        """The members of the team's `role` (whom `manual_approval` steps of the team's runs
        let approve)."""
        team = self._owner()
        with self._engine.connect() as connection:
            return list(connection.execute(select(MEMBERS.c.user).where(
                MEMBERS.c.team == team, MEMBERS.c.role == role)
                .order_by(MEMBERS.c.user)).scalars())

    def roles(self) -> dict[str, list[str]]:
        """Every role of the team with its members."""
        result: dict[str, list[str]] = {}
        team = self._owner()
        with self._engine.connect() as connection:
            for row in connection.execute(select(MEMBERS.c.role, MEMBERS.c.user)
                                          .where(MEMBERS.c.team == team)
                                          .order_by(MEMBERS.c.role, MEMBERS.c.user)):
                result.setdefault(row.role, []).append(row.user)
        return result

    # -- who changed them -----------------------------------------------------------------------

    def changes(self, kinds: Iterable[str] | None = None,
                subject: str | None = None) -> list[ChangeRecord]:
        """Changes (of `kinds`, about `subject`), oldest first: the team's changes to roles
        and secrets, and the changes to what is global (users, tokens, memberships) whichever
        team's store made them."""
        team = self._owner()
        statement = select(CHANGES).where(or_(CHANGES.c.team == team,
                                              CHANGES.c.kind.not_in(TEAM_KINDS))
                                          ).order_by(CHANGES.c.id)
        if kinds is not None:
            statement = statement.where(CHANGES.c.kind.in_(tuple(kinds)))
        if subject is not None:
            statement = statement.where(CHANGES.c.subject == subject)
        with self._engine.connect() as connection:
            return [ChangeRecord(row.id, row.at, row.os_user, row.uid, row.as_user, row.kind,
                                 row.subject, row.detail, row.team)
                    for row in connection.execute(statement)]


def _record_change(connection: Connection, team: str, kind: str, subject: str,
                   detail: str | None = None, *, by: str | None) -> None:
    """Record a change made through the store of `team` (its `_owner()`)."""
    account = processes.account()
    connection.execute(insert(CHANGES).values(at=utc_now(), os_user=account.name,
                                              uid=account.uid, as_user=by, kind=kind,
                                              subject=subject, detail=detail, team=team))
