"""Schema version 1, the baseline: `flowplan_meta`, `pipelines`, `schedules`,
`deployment_groups`, as they were when version 1 was written.

A fresh store is created from the models at the head revision and never runs this step; it is
here so that the chain starts where the first flowplan store did, and so that a database can be
built at any older version (the upgrade tests do).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text

from flowplan.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    Table("flowplan_meta", metadata,
          Column("key", String(64), primary_key=True),
          Column("value", Text, nullable=False))

    def registered(name: str, *columns: Column) -> None:
        Table(name, metadata,
              Column("id", Integer, primary_key=True, autoincrement=True),
              Column("name", String(255), nullable=False, unique=True),
              *columns,
              Column("created_at", UTCDateTime, nullable=False),
              Column("updated_at", UTCDateTime, nullable=False),
              sqlite_autoincrement=True)

    registered("pipelines", Column("definition", JSON, nullable=False),
               Column("content_hash", String(64), nullable=False))
    registered("schedules", Column("pipeline", String(255), nullable=False),
               Column("cron", String(255), nullable=False),
               Column("timezone", String(64), nullable=False),
               Column("definition", JSON, nullable=False))
    registered("deployment_groups", Column("environment", String(255), nullable=False),
               Column("definition", JSON, nullable=False))
    return metadata


def upgrade() -> None:
    """Create the version-1 tables (an empty database has none)."""
    _tables().create_all(op.get_bind())
