"""The state: what `apply` last provisioned. The only code that reads or writes state files.

Holds the model (flowplan.state.model), the local JSON backend with its lock
(flowplan.state.local) and the group-commit writer used during apply (flowplan.state.writer).
Deciding what goes into the state is left to plan and apply; other backends (PostgreSQL) will
live beside the local one and offer the same read/write/lock/force_unlock/lock_info.
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
