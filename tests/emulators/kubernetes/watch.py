"""Watches: `GET ...?watch=true` streams one JSON event a line ({"type": "ADDED" | "MODIFIED" |
"DELETED", "object": {...}}) for the objects of a type in a namespace (or all) that match the
label and field selectors, as the API server does. Without resourceVersion (or with "0") the
current objects come first as ADDED; with one, the changes after it; a revision the store no
longer keeps is one ERROR event with a 410 Expired Status. The stream ends after
timeoutSeconds (default 60) or when the emulator stops.

kubectl rollout status and the Python client's `watch.Watch().stream(...)` use these.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import ApiError, bad_request
from .operations import Target
from .selectors import field_selector, label_selector
from .store import ObjectStore

DEFAULT_TIMEOUT = 60.0


class Watch:
    def __init__(self, store: ObjectStore, target: Target, query: dict[str, list[str]],
                 stopping: threading.Event) -> None:
        def single(name: str) -> str:
            return (query.get(name) or [""])[-1]

        self.store, self.target, self.stopping = store, target, stopping
        self.matches_labels = label_selector(single("labelSelector"))
        self.matches_fields = field_selector(single("fieldSelector"))
        if target.name:     # GET .../NAME?watch=true: the old form of a name field selector
            by_name = self.matches_fields
            self.matches_fields = lambda obj: by_name(obj) and \
                obj["metadata"]["name"] == target.name
        version = single("resourceVersion")
        if version not in ("", "0") and not version.isdigit():
            raise bad_request(f'resourceVersion: invalid value "{version}"')
        self.since = int(version) if version not in ("", "0") else None
        timeout = single("timeoutSeconds") or str(DEFAULT_TIMEOUT)
        try:
            self.timeout = min(float(timeout), 3600.0)
        except ValueError:
            raise bad_request(f'timeoutSeconds: invalid value "{timeout}"') from None

    def _wanted(self, obj: dict[str, Any]) -> bool:
        namespace = self.target.namespace
        return (not namespace or obj["metadata"].get("namespace") == namespace) and \
            self.matches_labels(obj) and self.matches_fields(obj)

    def lines(self) -> Iterator[bytes]:
        deadline = time.monotonic() + self.timeout
        with self.store.lock:
            if self.since is None:
                self.since = int(self.store.revision)
                initial = [obj for obj in self.store.list(self.target.resource_type)
                           if self._wanted(obj)]
            else:
                initial = []
        for obj in initial:
            yield _line("ADDED", obj)
        while time.monotonic() < deadline and not self.stopping.is_set():
            with self.store.changed:
                events = self.store.events_since(self.since)
                if events == []:
                    self.store.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
                    events = self.store.events_since(self.since)
            if events is None:
                yield _line("ERROR", ApiError(
                    410, "Expired", f"too old resource version: {self.since} "
                    f"({self.store.revision})").status())
                return
            for event in events:
                self.since = event.revision
                if event.resource_type == self.target.resource_type and \
                        self._wanted(event.object):
                    yield _line(event.type, event.object)


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"
