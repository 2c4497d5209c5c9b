"""Schema version 7: the `deliveries` table, as it was when it was written: webhook deliveries
the server received (webhook, sender, event, delivery id, outcome, HTTP status, reason, the run
started, when), with the unique (webhook, once_key) constraint that makes a redelivery start nothing.

The table is spelled out here, not taken from the model in `flowplan.store.schema`, which keeps
changing after this step is written.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (Column, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)

from flowplan.store.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    Table("runs", metadata, Column("id", Integer, primary_key=True))   # for the foreign key
    Table("deliveries", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("webhook", String(255), nullable=False),
          Column("sender", String(16), nullable=False),
          Column("event", String(64), nullable=False),
          Column("delivery_id", String(255), nullable=False),
          Column("once_key", String(255)),
          Column("outcome", String(16), nullable=False),
          Column("status", Integer, nullable=False),
          Column("reason", Text, nullable=False),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
          Column("received_at", UTCDateTime, nullable=False),
          UniqueConstraint("webhook", "once_key", name="uq_deliveries_once"),
          Index("ix_deliveries_webhook", "webhook", "id"),
          sqlite_autoincrement=True)
    return metadata


def upgrade() -> None:
    """Create `deliveries` (it does not exist before this step)."""
    _tables().tables["deliveries"].create(op.get_bind())
