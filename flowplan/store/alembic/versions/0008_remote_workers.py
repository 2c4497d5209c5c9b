"""Schema version 8: remote workers. `worker_tokens` (public id, worker name, SHA-256 of the
secret part, created and last used), `worker_tasks` (which worker runs a task run now) and
`run_secrets` (a run's sensitive values as SecretBox tokens while the run lasts). The tables are
spelled out here, not taken from the models in `flowplan.store.schema`, which keep changing
after this step is written.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text

from flowplan.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    Table("runs", metadata, Column("id", Integer, primary_key=True))         # for the keys
    Table("task_runs", metadata, Column("id", Integer, primary_key=True))
    Table("worker_tokens", metadata,
          Column("id", String(32), primary_key=True),
          Column("worker", String(100), nullable=False),
          Column("secret_hash", String(64), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("last_used_at", UTCDateTime))
    Table("worker_tasks", metadata,
          Column("task_run_id", Integer, ForeignKey("task_runs.id", ondelete="CASCADE"),
                 primary_key=True),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("worker", String(100), nullable=False),
          Column("claimed_at", UTCDateTime, nullable=False))
    Table("run_secrets", metadata,
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"),
                 primary_key=True),
          Column("name", String(255), primary_key=True),
          Column("token", Text, nullable=False))
    return metadata


def upgrade() -> None:
    """Create `worker_tokens`, `worker_tasks` and `run_secrets` (none exists at 7)."""
    metadata = _tables()
    for name in ("worker_tokens", "worker_tasks", "run_secrets"):
        metadata.tables[name].create(op.get_bind())
