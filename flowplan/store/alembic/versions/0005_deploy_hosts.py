"""Schema version 5: per-host records of deploys, as it was when version 5 was written.

`deploy_hosts` holds one row per host of each deploy step run (`host_deploy`): its batch, status,
exit code, error, when it started and finished, and a JSON `detail`. The table is spelled out here,
not taken from the model in `flowplan.store.schema`, which keeps changing after this step is
written. `approvals.decision` may now also be `resume` (a paused deploy continued): the column is
wide enough already.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (JSON, Column, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, UniqueConstraint)

from flowplan.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    # the referenced tables, only so that the foreign keys resolve (they are not created)
    Table("runs", metadata, Column("id", Integer, primary_key=True))
    Table("step_runs", metadata, Column("id", Integer, primary_key=True))
    Table("deploy_hosts", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("step_run_id", Integer, ForeignKey("step_runs.id", ondelete="CASCADE"),
                 nullable=False),
          Column("host", String(255), nullable=False),
          Column("batch", Integer, nullable=False),
          Column("status", String(16), nullable=False),
          Column("exit_code", Integer),
          Column("error", Text),
          Column("started_at", UTCDateTime),
          Column("finished_at", UTCDateTime),
          Column("detail", JSON),
          UniqueConstraint("step_run_id", "host", name="uq_deploy_hosts_host"),
          Index("ix_deploy_hosts_run", "run_id"),
          sqlite_autoincrement=True)
    return metadata


def upgrade() -> None:
    """Create `deploy_hosts` (it does not exist at 4)."""
    _tables().tables["deploy_hosts"].create(op.get_bind())
