"""Schema version 3: who did what, as it was when version 3 was written.

- `runs` and `step_runs` get `pid_start_time` and `boot_id`: which process their `pid` was, so
  that a pid reused by another process is neither taken for a live driver nor killed;
- `approvals` get `os_user` and `uid`: the operating-system account that recorded a decision,
  next to the name it gave;
- `changes` records role grants and revokes and secret changes with the same two names.

Columns are added with ALTER TABLE ... ADD COLUMN (SQLite and PostgreSQL both have it), at the
end of each table, where the models in `flowplan.store.schema` declare them too; the new table is
spelled out here, not taken from the models, which keep changing after this step is written.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (BigInteger, Column, Index, Integer, MetaData, String, Table,
                        Text)

from flowplan.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _new_columns() -> tuple[tuple[str, Column], ...]:
    return (("runs", Column("pid_start_time", BigInteger)),
            ("runs", Column("boot_id", String(64))),
            ("step_runs", Column("pid_start_time", BigInteger)),
            ("step_runs", Column("boot_id", String(64))),
            ("approvals", Column("os_user", String(255))),
            ("approvals", Column("uid", BigInteger)))


def _tables() -> MetaData:
    metadata = MetaData()
    Table("changes", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("at", UTCDateTime, nullable=False),
          Column("os_user", String(255), nullable=False),
          Column("uid", BigInteger, nullable=False),
          Column("as_user", String(255)),
          Column("kind", String(32), nullable=False),
          Column("subject", String(255), nullable=False),
          Column("detail", Text),
          Index("ix_changes_subject", "kind", "subject"),
          sqlite_autoincrement=True)
    return metadata


def upgrade() -> None:
    """Add the nullable identity columns and create `changes` (it does not exist at 2)."""
    for table, column in _new_columns():
        op.add_column(table, column)
    _tables().create_all(op.get_bind())
