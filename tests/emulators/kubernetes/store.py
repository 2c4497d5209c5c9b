"""ObjectStore: the emulator's etcd. Objects by (type, namespace, name), stored and returned as
deep copies, each write stamped with the next resourceVersion and kept as an Event for watches;
one re-entrant lock that the API handlers and the controller hold for whole read-modify-write
steps (`with store.lock:`).

It knows nothing of validation, apply or ownership: operations.py decides what to write.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from .discovery import ResourceType

Key = tuple[ResourceType, str, str]
EVENTS_KEPT = 20000


@dataclass(frozen=True)
class Event:
    """A change, as a watch reports it: ADDED, MODIFIED or DELETED, with the object after it."""
    revision: int
    type: str
    resource_type: ResourceType
    object: dict[str, Any]


class ObjectStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)   # notified on every write
        self._objects: dict[Key, dict[str, Any]] = {}
        self._revision = 0
        self._events: deque[Event] = deque(maxlen=EVENTS_KEPT)

    @property
    def revision(self) -> str:
        return str(self._revision)

    def get(self, resource_type: ResourceType, namespace: str, name: str) -> dict | None:
        with self.lock:
            found = self._objects.get((resource_type, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, resource_type: ResourceType, namespace: str | None = None) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(obj) for (kind, space, _), obj in sorted(
                        self._objects.items(), key=lambda item: item[0][1:])
                    if kind == resource_type and namespace in (None, space)]

    def put(self, resource_type: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Stores obj with the next resourceVersion; returns the stored copy."""
        with self.lock:
            self._revision += 1
            metadata = obj["metadata"]
            metadata["resourceVersion"] = str(self._revision)
            key = (resource_type, metadata.get("namespace", ""), metadata["name"])
            change = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = copy.deepcopy(obj)
            self._events.append(Event(self._revision, change, resource_type, copy.deepcopy(obj)))
            self.changed.notify_all()
            return copy.deepcopy(obj)

    def remove(self, resource_type: ResourceType, namespace: str, name: str) -> dict | None:
        with self.lock:
            removed = self._objects.pop((resource_type, namespace, name), None)
            if removed is not None:
                self._revision += 1
                removed["metadata"]["resourceVersion"] = str(self._revision)
                self._events.append(Event(self._revision, "DELETED", resource_type,
                                          copy.deepcopy(removed)))
                self.changed.notify_all()
            return removed

    def events_since(self, revision: int) -> list[Event] | None:
        """The changes after revision, oldest first; None when they are no longer all kept
        (a watch then answers 410 Gone, as the API server does for a compacted revision)."""
        with self.lock:
            if revision < self._revision and (not self._events
                                              or self._events[0].revision > revision + 1):
                return None
            return [event for event in self._events if event.revision > revision]

    def owned_by(self, uid: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        """The objects whose ownerReferences name uid."""
        with self.lock:
            return [(key[0], copy.deepcopy(obj)) for key, obj in self._objects.items()
                    if any(isinstance(reference, dict) and reference.get("uid") == uid
                           for reference in obj["metadata"].get("ownerReferences") or [])]
