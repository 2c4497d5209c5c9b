"""Schema version 2: the run history tables, as they were when version 2 was written.

The tables are spelled out here, in their own MetaData, rather than taken from the models in
`flowplan.store.schema`: the models follow the latest version and keep changing, while this step
must always create exactly the version-2 shape. A test checks that a store upgraded from version 1
and a store created fresh from the models end up alike.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index,
                        Integer, MetaData, String, Table, Text, UniqueConstraint)

from flowplan.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    auto = {"sqlite_autoincrement": True}

    def key() -> Column:
        return Column("id", Integer, primary_key=True, autoincrement=True)

    Table("runs", metadata, key(),
          Column("pipeline", String(255), nullable=False),
          Column("number", Integer, nullable=False),
          Column("status", String(16), nullable=False),
          Column("trigger", String(32), nullable=False),
          Column("user", String(255)),
          Column("branch", Text),
          Column("commit", String(64)),
          Column("commit_short", String(16)),
          Column("commit_author", Text),
          Column("commit_message", Text),
          Column("variables", JSON, nullable=False),
          Column("definition", JSON, nullable=False),
          Column("options", JSON, nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("started_at", UTCDateTime),
          Column("finished_at", UTCDateTime),
          Column("error", Text),
          Column("pid", Integer),
          Column("host", String(255)),
          UniqueConstraint("pipeline", "number", name="uq_runs_pipeline_number"),
          Index("ix_runs_status", "status"), **auto)
    Table("task_runs", metadata, key(),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("stage", String(255), nullable=False),
          Column("stage_index", Integer, nullable=False),
          Column("task", String(255), nullable=False),
          Column("position", Integer, nullable=False),
          Column("status", String(16), nullable=False),
          Column("attempt", Integer, nullable=False),
          Column("started_at", UTCDateTime),
          Column("finished_at", UTCDateTime),
          Column("error", Text),
          Column("failure_allowed", Boolean, nullable=False),
          Column("skip_reason", String(32)),
          Column("workspace", Text),
          UniqueConstraint("run_id", "stage", "task", name="uq_task_runs_task"), **auto)
    Table("step_runs", metadata, key(),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("task_run_id", Integer, ForeignKey("task_runs.id", ondelete="CASCADE"),
                 nullable=False),
          Column("stage", String(255), nullable=False),
          Column("task", String(255), nullable=False),
          Column("step", String(255), nullable=False),
          Column("type", String(64), nullable=False),
          Column("position", Integer, nullable=False),
          Column("attempt", Integer, nullable=False),
          Column("status", String(16), nullable=False),
          Column("started_at", UTCDateTime),
          Column("finished_at", UTCDateTime),
          Column("exit_code", Integer),
          Column("error", Text),
          Column("outputs", JSON),
          Column("pid", Integer),
          Column("log_lines", Integer, nullable=False),
          Column("log_bytes", BigInteger, nullable=False),
          Column("log_dropped", Integer, nullable=False),
          UniqueConstraint("task_run_id", "step", "attempt", name="uq_step_runs_attempt"),
          Index("ix_step_runs_run", "run_id"), **auto)
    Table("log_chunks", metadata, key(),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("step_run_id", Integer, ForeignKey("step_runs.id", ondelete="CASCADE"),
                 nullable=False),
          Column("first_seq", Integer, nullable=False),
          Column("line_count", Integer, nullable=False),
          Column("at", Float, nullable=False),
          Column("stream", String(8), nullable=False),
          Column("text", Text, nullable=False),
          Index("ix_log_chunks_run", "run_id", "id"),
          Index("ix_log_chunks_step", "step_run_id", "first_seq"), **auto)
    Table("approvals", metadata, key(),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("stage", String(255), nullable=False),
          Column("task", String(255)),
          Column("step", String(255)),
          Column("step_run_id", Integer, ForeignKey("step_runs.id", ondelete="CASCADE")),
          Column("user", String(255), nullable=False),
          Column("decision", String(8), nullable=False),
          Column("comment", Text),
          Column("at", UTCDateTime, nullable=False),
          Index("ix_approvals_run", "run_id"), **auto)
    Table("artifacts", metadata, key(),
          Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
          Column("step_run_id", Integer, ForeignKey("step_runs.id", ondelete="SET NULL")),
          Column("name", String(255), nullable=False),
          Column("path", Text, nullable=False),
          Column("size", BigInteger, nullable=False),
          Column("sha256", String(64), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          UniqueConstraint("run_id", "name", name="uq_artifacts_name"), **auto)
    Table("cache_entries", metadata, key(),
          Column("pipeline", String(255), nullable=False),
          Column("name", String(255), nullable=False),
          Column("key", Text, nullable=False),
          Column("path", Text, nullable=False),
          Column("size", BigInteger, nullable=False),
          Column("sha256", String(64), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          UniqueConstraint("pipeline", "name", "key", name="uq_cache_entries_key"), **auto)
    Table("secrets", metadata, key(),
          Column("name", String(255), nullable=False, unique=True),
          Column("token", Text, nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("updated_at", UTCDateTime, nullable=False), **auto)
    Table("role_members", metadata,
          Column("role", String(255), primary_key=True),
          Column("user", String(255), primary_key=True),
          Column("created_at", UTCDateTime, nullable=False))
    return metadata


def upgrade() -> None:
    """Create the run history tables (none of them exists at version 1)."""
    _tables().create_all(op.get_bind())
