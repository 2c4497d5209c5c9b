"""Schema version 4: step summaries, as it was when version 4 was written.

`step_runs` gets `summary`, a JSON column: what a step type reports beyond its outputs (the totals
and failures of a test report, the findings of a code scan), shown by `flowplan runs show`. The
column is added with ALTER TABLE ... ADD COLUMN at the end of the table, where the model in
`flowplan.store.schema` declares it too; its type is spelled out here, not taken from the model.

Registering the step is left to `flowplan.store.migrations`.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Connection

from flowplan.store.migration_v3 import add_column


def upgrade_to_v4(connection: Connection) -> None:
    """Add the nullable `step_runs.summary` column."""
    add_column(connection, "step_runs", Column("summary", JSON))
