"""The state: what `apply` last provisioned. The only code that reads or writes state files.

Holds the model (flowplan.state.model), the local JSON backend with its lock
(flowplan.state.local) and the group-commit writer used during apply (flowplan.state.writer).
The PostgreSQL backend (flowplan.state.pg; SQLAlchemy and psycopg load on its first
connection) offers the same read/exists/write/lock/lock_info/force_unlock. Deciding what goes
into the state is left to plan and apply.
"""

from flowplan.state.local import LocalStateBackend, LockInfo, StateLockedError
from flowplan.state.model import (
    MIGRATIONS,
    STATE_VERSION,
    ResourceState,
    State,
    StateError,
    upgrade,
)
from flowplan.state.writer import StateWriter

__all__ = [
    "MIGRATIONS",
    "STATE_VERSION",
    "LocalStateBackend",
    "LockInfo",
    "ResourceState",
    "State",
    "StateError",
    "StateLockedError",
    "StateWriter",
    "upgrade",
]
