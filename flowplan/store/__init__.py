"""The store: the only code that touches the database of registered pipelines, schedules and
deployment groups (runs, logs and approvals come later, as schema upgrades).

Callers use `Store` and the frozen records it returns; the models in `schema` and the steps in
`migrations` stay inside this package.
"""

from flowplan.store.database import (
    DeploymentGroupRecord,
    PipelineRecord,
    ScheduleRecord,
    Store,
    require_json_data,
    resolve_url,
)
from flowplan.store.migrations import Migration, SchemaVersionError

__all__ = [
    "DeploymentGroupRecord",
    "Migration",
    "PipelineRecord",
    "ScheduleRecord",
    "SchemaVersionError",
    "Store",
    "require_json_data",
    "resolve_url",
]
