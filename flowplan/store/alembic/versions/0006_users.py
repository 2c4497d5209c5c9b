"""Schema version 6: users, API tokens, dashboard sessions and schedule ticks, as they were when
version 6 was written.

`users` (name, argon2id password hash, who created it and when), `api_tokens` (public id, user,
SHA-256 of the secret part, description, created and last used), `sessions` (SHA-256 of the
cookie value, user, CSRF token, created and expiry) and `schedule_ticks` (per schedule: when it
last fired, at which commit, which run, and a note on what happened). Tokens and sessions go
with their user (ON DELETE CASCADE). The tables are spelled out here, not taken from the models
in `flowplan.store.schema`, which keep changing after this step is written.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, ForeignKey, Index, MetaData, String, Table, Text

from flowplan.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _tables() -> MetaData:
    metadata = MetaData()
    Table("users", metadata,
          Column("name", String(100), primary_key=True),
          Column("password_hash", Text, nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("created_by", String(255)))
    Table("api_tokens", metadata,
          Column("id", String(32), primary_key=True),
          Column("user", String(100), ForeignKey("users.name", ondelete="CASCADE"),
                 nullable=False),
          Column("secret_hash", String(64), nullable=False),
          Column("description", Text, nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("last_used_at", UTCDateTime),
          Index("ix_api_tokens_user", "user"))
    Table("sessions", metadata,
          Column("id_hash", String(64), primary_key=True),
          Column("user", String(100), ForeignKey("users.name", ondelete="CASCADE"),
                 nullable=False),
          Column("csrf_token", String(128), nullable=False),
          Column("created_at", UTCDateTime, nullable=False),
          Column("expires_at", UTCDateTime, nullable=False),
          Index("ix_sessions_user", "user"),
          Index("ix_sessions_expires", "expires_at"))
    Table("schedule_ticks", metadata,
          Column("schedule", String(255), primary_key=True),
          Column("last_fired_at", UTCDateTime, nullable=False),
          Column("last_commit", String(64)),
          Column("last_run", String(255)),
          Column("last_note", Text),
          Column("updated_at", UTCDateTime, nullable=False))
    return metadata


def upgrade() -> None:
    """Create `users`, `api_tokens`, `sessions` and `schedule_ticks` (none exists at 5)."""
    _tables().create_all(op.get_bind())
