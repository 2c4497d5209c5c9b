"""Server-side printing: what `kubectl get` shows. kubectl asks for `as=Table` in its Accept
header; the answer is a meta.k8s.io/v1 Table with the columns a real cluster prints for the kind
(Deployments: Ready, Up-to-date, Available; Pods: Ready, Status, Restarts; ...) and each row's
object as PartialObjectMetadata."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _pod_status(pod: dict[str, Any]) -> str:
    for container in _status(pod).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "Waiting")
    return _status(pod).get("phase", "Pending")


COLUMNS: dict[str, list[Column]] = {
    "Deployment": [
        ("Ready", lambda o: f'{_status(o).get("readyReplicas", 0)}/{_spec(o).get("replicas", 0)}'),
        ("Up-to-date", lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", lambda o: _status(o).get("availableReplicas", 0))],
    "ReplicaSet": [
        ("Desired", lambda o: _spec(o).get("replicas", 0)),
        ("Current", lambda o: _status(o).get("replicas", 0)),
        ("Ready", lambda o: _status(o).get("readyReplicas", 0))],
    "StatefulSet": [
        ("Ready", lambda o: f'{_status(o).get("readyReplicas", 0)}/{_spec(o).get("replicas", 0)}')],
    "DaemonSet": [
        ("Desired", lambda o: _status(o).get("desiredNumberScheduled", 0)),
        ("Ready", lambda o: _status(o).get("numberReady", 0))],
    "Pod": [
        ("Ready", lambda o: "{}/{}".format(
            sum(1 for c in _status(o).get("containerStatuses") or [] if c.get("ready")),
            len(_spec(o).get("containers") or []))),
        ("Status", _pod_status),
        ("Restarts", lambda o: 0)],
    "Service": [
        ("Type", lambda o: _spec(o).get("type", "")),
        ("Cluster-IP", lambda o: _spec(o).get("clusterIP", "")),
        ("Selector", lambda o: ",".join(f"{k}={v}" for k, v in
                                        (_spec(o).get("selector") or {}).items()) or "<none>")],
    "Namespace": [("Status", lambda o: _status(o).get("phase", ""))],
    "ConfigMap": [("Data", lambda o: len(o.get("data") or {}))],
    "Secret": [("Type", lambda o: o.get("type", "")), ("Data", lambda o: len(o.get("data") or {}))],
}


def age(timestamp: str) -> str:
    try:
        created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<unknown>"
    seconds = int((datetime.now(timezone.utc) - created).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def table(kind: str, objects: list[dict[str, Any]], revision: str) -> dict[str, Any]:
    columns = COLUMNS.get(kind, [])
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}]
    definitions += [{"name": name, "type": "string", "format": "", "priority": 0,
                     "description": name} for name, _ in columns]
    definitions.append({"name": "Age", "type": "string", "format": "", "priority": 0,
                        "description": "Time since the object was created."})
    rows = []
    for obj in objects:
        cells = [obj["metadata"]["name"]] + [value(obj) for _, value in columns]
        cells.append(age(obj["metadata"].get("creationTimestamp", "")))
        rows.append({"cells": cells, "object": {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": revision},
            "columnDefinitions": definitions, "rows": rows}
