"""Schema version 4: step summaries, as it was when version 4 was written.

`step_runs` gets `summary`, a JSON column: what a step type reports beyond its outputs (the totals
and failures of a test report, the findings of a code scan), shown by `flowplan runs show`. The
column is added with ALTER TABLE ... ADD COLUMN at the end of the table, where the model in
`flowplan.store.schema` declares it too; its type is spelled out here, not taken from the model.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import JSON, Column

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable `step_runs.summary` column."""
    op.add_column("step_runs", Column("summary", JSON))
