"""Schema version 10: secrets and roles per team. A `team` column (default "default", which
every older row joins) on `secrets`, `role_members` and `changes`: a team's pipelines read its
own secrets, and a role names who may approve in its own team only. Secret names are unique per
team (`uq_secrets_team_name`); a role membership is keyed by (team, role, user). A `changes`
row records the team of the store that made the change.

On PostgreSQL the columns and constraints are altered in place. SQLite cannot drop a constraint:
`secrets` and `role_members` are rebuilt by Alembic's batch mode (copy, drop, rename), the
secrets' AUTOINCREMENT counter carried over so that ids are never reused. `changes` only gains
a column.

Everything is spelled out here, not taken from the models in `flowplan.store.schema`.
"""

from __future__ import annotations

import warnings

from alembic import op
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, inspect, text

from flowplan.store.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SECRETS_UNIQUE = "uq_secrets_team_name"


def _team_column() -> Column:
    return Column("team", String(63), nullable=False, server_default="default")


def _secrets_at_9() -> Table:
    """`secrets` as version 9 has it, without its unique constraint on `name`: what batch
    mode copies from (it cannot drop the unnamed constraint SQLite reflects)."""
    return Table("secrets", MetaData(),
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("name", String(255), nullable=False),
                 Column("token", Text, nullable=False),
                 Column("created_at", UTCDateTime, nullable=False),
                 Column("updated_at", UTCDateTime, nullable=False),
                 sqlite_autoincrement=True)


def _scope_secrets(bind) -> None:
    if bind.dialect.name != "sqlite":
        old = next((unique["name"] for unique in inspect(bind).get_unique_constraints("secrets")
                    if unique["column_names"] == ["name"] and unique["name"]), None)
        if old is None:
            raise RuntimeError("the store's secrets table has no named unique constraint on "
                               "name: it was changed by hand or is damaged")
        op.add_column("secrets", _team_column())
        op.drop_constraint(old, "secrets", type_="unique")
        op.create_unique_constraint(SECRETS_UNIQUE, "secrets", ["team", "name"])
        return
    counter = bind.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'secrets'")
                           ).scalar()
    with op.batch_alter_table("secrets", recreate="always", copy_from=_secrets_at_9()) as batch:
        batch.add_column(_team_column())
        batch.create_unique_constraint(SECRETS_UNIQUE, ["team", "name"])
    if counter is not None:        # ids are never reused: the copy must not lower the counter
        bind.execute(text("UPDATE sqlite_sequence SET seq = max(seq, :seq) "
                          "WHERE name = 'secrets'"), {"seq": counter})
        bind.execute(text("INSERT INTO sqlite_sequence (name, seq) SELECT 'secrets', :seq "
                          "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence "
                          "WHERE name = 'secrets')"), {"seq": counter})


def _key_members_by_team(bind) -> None:
    """`role_members` keyed by (team, role, user) instead of (role, user)."""
    if bind.dialect.name != "sqlite":
        op.add_column("role_members", _team_column())
        name = inspect(bind).get_pk_constraint("role_members")["name"]
        op.drop_constraint(name, "role_members", type_="primary")
        op.create_primary_key(name, "role_members", ["team", "role", "user"])
        return
    with warnings.catch_warnings():   # SQLAlchemy notes the key's new column: meant so
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_role_members' specifies")
        with op.batch_alter_table("role_members", recreate="always") as batch:
            batch.add_column(_team_column())
            batch.create_primary_key("pk_role_members", ["team", "role", "user"])


def upgrade() -> None:
    """Scope `secrets` and `role_members` by team; record the team of each change."""
    bind = op.get_bind()
    _scope_secrets(bind)
    _key_members_by_team(bind)
    op.add_column("changes", _team_column())
