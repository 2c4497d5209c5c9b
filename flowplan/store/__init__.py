"""The store: the only code that touches the database of registered pipelines, schedules and
deployment groups, and of run history: runs, task and step runs, logs, approvals, artifacts, the
cache index, secrets (encrypted tokens only) and roles; users, API tokens and dashboard
sessions (hashes only) and schedule ticks.

A Store is opened for one team (`Store.open(..., team=...)`, default `default`): what it reads
and writes is that team's (flowplan.teams). Callers use `Store` and the frozen records it returns; the models in `schema` and the Alembic
revisions (`migrations`, `alembic/`) stay inside this package.
"""

from flowplan.store.access import ChangeRecord
from flowplan.store.caches import CacheEntryRecord
from flowplan.store.database import (
    DeploymentGroupRecord,
    PipelineRecord,
    ScheduleRecord,
    Store,
    resolve_url,
    shown_url,
)
from flowplan.store.deliveries import DeliveryClaim, DeliveryRecord, DeliveryRedelivered
from flowplan.store.deploys import DeployHostRecord
from flowplan.store.gates import ApprovalRecord, ArtifactRecord
from flowplan.store.json_data import require_json_data
from flowplan.store.logs import LogChunkRecord, LogLineRecord
from flowplan.store.migrations import Revisions, SchemaVersionError
from flowplan.store.runs import (
    RunHeld,
    RunRecord,
    StepPlan,
    StepRunRecord,
    TaskPlan,
    TaskRunRecord,
)
from flowplan.store.users import (
    ApiTokenRecord,
    ScheduleTickRecord,
    SessionRecord,
    UserRecord,
)

__all__ = [
    "ApiTokenRecord",
    "ApprovalRecord",
    "ArtifactRecord",
    "CacheEntryRecord",
    "ChangeRecord",
    "DeliveryClaim",
    "DeliveryRecord",
    "DeliveryRedelivered",
    "DeployHostRecord",
    "DeploymentGroupRecord",
    "LogChunkRecord",
    "LogLineRecord",
    "PipelineRecord",
    "RunHeld",
    "Revisions",
    "RunRecord",
    "ScheduleRecord",
    "ScheduleTickRecord",
    "SchemaVersionError",
    "SessionRecord",
    "StepPlan",
    "StepRunRecord",
    "Store",
    "TaskPlan",
    "TaskRunRecord",
    "UserRecord",
    "require_json_data",
    "resolve_url",
    "shown_url",
]
