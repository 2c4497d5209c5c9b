"""Secrets and roles in the store.

A secret is kept as the token `flowplan.executor.secrets.SecretBox` makes of it: the store never
sees clear text and cannot decrypt. A role is a named set of users; `manual_approval` steps list
roles whose members may approve. `AccessRecords` is mixed into `flowplan.store.Store`.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update

from flowplan.store.schema import RoleMember, Secret, utc_now

SECRETS = Secret.__table__
MEMBERS = RoleMember.__table__
TOKEN_PREFIXES = ("fernet-",)


class AccessRecords:
    _engine: Engine
    _write_engine: Engine

    # -- secrets --------------------------------------------------------------------------------

    def put_secret(self, name: str, token: str) -> None:
        """Store (or replace) the encrypted token of secret `name`."""
        if not name:
            raise ValueError("a secret needs a name")
        if not token.startswith(TOKEN_PREFIXES):
            raise ValueError("the store keeps encrypted secret tokens only, not clear text")
        now = utc_now()
        with self._write_engine.begin() as connection:
            changed = connection.execute(update(SECRETS).where(SECRETS.c.name == name)
                                         .values(token=token, updated_at=now)).rowcount
            if not changed:
                connection.execute(insert(SECRETS).values(name=name, token=token,
                                                          created_at=now, updated_at=now))

    def get_secret_token(self, name: str) -> str | None:
        with self._engine.connect() as connection:
            return connection.execute(select(SECRETS.c.token)
                                      .where(SECRETS.c.name == name)).scalar_one_or_none()

    def secret_names(self) -> list[str]:
        with self._engine.connect() as connection:
            return list(connection.execute(select(SECRETS.c.name)
                                           .order_by(SECRETS.c.name)).scalars())

    def delete_secret(self, name: str) -> bool:
        with self._write_engine.begin() as connection:
            return connection.execute(delete(SECRETS).where(SECRETS.c.name == name)).rowcount > 0

    # -- roles ----------------------------------------------------------------------------------

    def grant_role(self, role: str, user: str) -> bool:
        """Make `user` a member of `role`; False when it already was."""
        if not role or not user:
            raise ValueError("a role grant needs a role and a user")
        with self._write_engine.begin() as connection:
            exists = connection.execute(select(MEMBERS.c.user).where(
                MEMBERS.c.role == role, MEMBERS.c.user == user)).first()
            if exists:
                return False
            connection.execute(insert(MEMBERS).values(role=role, user=user,
                                                      created_at=utc_now()))
            return True

    def revoke_role(self, role: str, user: str) -> bool:
        with self._write_engine.begin() as connection:
            return connection.execute(delete(MEMBERS).where(
                MEMBERS.c.role == role, MEMBERS.c.user == user)).rowcount > 0

    def role_members(self, role: str) -> list[str]:
        with self._engine.connect() as connection:
            return list(connection.execute(select(MEMBERS.c.user).where(MEMBERS.c.role == role)
                                           .order_by(MEMBERS.c.user)).scalars())

    def roles(self) -> dict[str, list[str]]:
        """Every role with its members."""
        result: dict[str, list[str]] = {}
        with self._engine.connect() as connection:
            for row in connection.execute(select(MEMBERS.c.role, MEMBERS.c.user)
                                          .order_by(MEMBERS.c.role, MEMBERS.c.user)):
                result.setdefault(row.role, []).append(row.user)
        return result
