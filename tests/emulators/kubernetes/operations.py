"""The REST operations on objects, as kube-apiserver performs them: get, list, create, replace
(PUT), patch (apply, merge, strategic merge, JSON patch), delete with propagation to owned
objects; each write checked (validation.py), defaulted, given metadata (uid, creationTimestamp,
generation bumped on spec changes, resourceVersion by the store), its managedFields updated
(merging.py), and skipped with `dry_run`. The `status` and `scale` subresources follow.

HTTP, authentication and routing are server.py's.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import yaml

from . import fieldsets, merging, validation
from .discovery import RESOURCE_TYPES, ResourceType, find_by_kind
from .errors import (ApiError, already_exists, bad_request, namespace_not_found, not_found,
                     stale)
from .selectors import field_selector, label_selector
from .store import ObjectStore

NAMESPACES = find_by_kind("Namespace")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
PATCH_TYPES = ("application/apply-patch+yaml", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/json-patch+json")


@dataclass(frozen=True)
class Target:
    """What a request names: the type, the namespace ("" for cluster-scoped), the name ("" for
    the collection) and the subresource ("" for the object itself)."""
    resource_type: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""


@dataclass(frozen=True)
class WriteOptions:
    manager: str
    dry_run: bool = False
    force: bool = False


BODY_TYPES = ("application/json", "application/yaml")


def parse_body(data: bytes, content_type: str) -> Any:
    """JSON, or YAML (apply patches, application/yaml); 400 for a body that does not parse.
    Protobuf and CBOR bodies are 415, as on an API server that does not serve them."""
    if content_type not in BODY_TYPES + PATCH_TYPES:
        raise ApiError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media '
                       f'types include: {", ".join(BODY_TYPES)}')
    if not data.strip():
        raise bad_request("the request body is empty")
    try:
        if content_type.endswith("yaml"):
            parsed = yaml.safe_load(data.decode("utf-8"))
        else:
            parsed = json.loads(data)
    except (ValueError, yaml.YAMLError, RecursionError) as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        kind = "YAML" if content_type.endswith("yaml") else "JSON"
        raise bad_request(f"the request body is not valid {kind}{where}: "
                          f"{str(error).splitlines()[0][:200]}") from None
    return _as_json(parsed, 0, [0])


MAX_DEPTH, MAX_NODES = 100, 200_000


def _as_json(value: Any, depth: int, count: list[int]) -> Any:
    """value as plain JSON data: string keys, no NaN, YAML timestamps as strings (as the API
    server's YAML-to-JSON conversion gives them); nesting deeper than MAX_DEPTH and YAML aliases
    that expand past MAX_NODES values are 400."""
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise bad_request(f"the request body is nested deeper than {MAX_DEPTH} levels or "
                          f"holds more than {MAX_NODES} values")
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise bad_request("the request body has a mapping key that is not a string")
        return {key: _as_json(item, depth + 1, count) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item, depth + 1, count) for item in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise bad_request("the request body holds a number that is not finite")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise bad_request(f"the request body holds a value JSON cannot: {type(value).__name__}")


def now() -> str:
    return merging.now()


class Operations:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # reads

    def get(self, target: Target) -> dict[str, Any]:
        found = self.store.get(target.resource_type, target.namespace, target.name)
        if found is None:
            raise not_found(target.resource_type, target.name)
        if target.subresource == "scale":
            return _scale_of(target.resource_type, found)
        return found

    def list(self, target: Target, labels: str = "", fields: str = "") -> dict[str, Any]:
        resource_type = target.resource_type
        if target.namespace:
            self._check_namespace(target.namespace)
        matches_labels, matches_fields = label_selector(labels), field_selector(fields)
        with self.store.lock:
            items = [obj for obj in self.store.list(resource_type, target.namespace or None)
                     if matches_labels(obj) and matches_fields(obj)]
            revision = self.store.revision
        return {"kind": f"{resource_type.kind}List", "apiVersion": resource_type.api_version,
                "metadata": {"resourceVersion": revision}, "items": items}

    # writes

    def create(self, target: Target, body: Any, options: WriteOptions) -> dict[str, Any]:
        validation.check_shape(body)
        obj = self._own_type(target, body)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        with self.store.lock:
            self._check_namespace(target.namespace)
            if self.store.get(target.resource_type, target.namespace,
                              metadata.get("name") or "") is not None:
                raise already_exists(target.resource_type, metadata["name"])
            obj.pop("status", None)
            merging.record_update(None, obj, manager=options.manager,
                                  api_version=target.resource_type.api_version)
            return self._write(target, None, obj, options)

    def replace(self, target: Target, body: Any, options: WriteOptions) -> dict[str, Any]:
        validation.check_shape(body)
        with self.store.lock:
            old = self._existing(target)
            if target.subresource == "scale":
                return self._write_scale(target, old, body, options)
            obj = self._own_type(target, body)
            sent_version = obj.get("metadata", {}).get("resourceVersion")
            if sent_version and sent_version != old["metadata"]["resourceVersion"]:
                raise stale(target.resource_type, target.name)
            obj = self._keep_server_fields(target, old, obj)
            merging.record_update(old, obj, manager=options.manager,
                                  api_version=target.resource_type.api_version,
                                  subresource=target.subresource)
            return self._write(target, old, obj, options)

    def patch(self, target: Target, content_type: str, data: bytes,
              options: WriteOptions) -> dict[str, Any]:
        if content_type not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           f'the body of the request was in an unknown format - accepted media '
                           f'types include: {", ".join(PATCH_TYPES)}')
        patch = parse_body(data, content_type)
        apply = content_type == "application/apply-patch+yaml"
        if options.force and not apply:
            raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: force: "
                           "Forbidden: may not be specified for non-apply patch")
        with self.store.lock:
            if apply:
                return self._apply(target, patch, options)
            old = self._existing(target)
            current = _scale_of(target.resource_type, old) if target.subresource == "scale" \
                else old
            if content_type == "application/json-patch+json":
                patched = merging.json_patch(current, patch)
            elif not isinstance(patch, dict):
                raise bad_request("a merge patch must be a JSON object")
            elif content_type == "application/merge-patch+json":
                patched = merging.merge_patch(current, patch)
            else:
                patched = merging.strategic_merge_patch(current, patch)
            validation.check_shape(patched)
            if target.subresource == "scale":
                return self._write_scale(target, old, patched, options)
            sent_version = (patch.get("metadata") or {}).get("resourceVersion") \
                if isinstance(patch, dict) else None
            if sent_version and sent_version != old["metadata"]["resourceVersion"]:
                raise stale(target.resource_type, target.name)
            obj = self._keep_server_fields(target, old, self._own_type(target, patched))
            merging.record_update(old, obj, manager=options.manager,
                                  api_version=target.resource_type.api_version,
                                  subresource=target.subresource)
            return self._write(target, old, obj, options)

    def _apply(self, target: Target, patch: Any, options: WriteOptions) -> dict[str, Any]:
        if not options.manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: '
                           "fieldManager: Required value: is required for apply patch")
        if target.subresource:
            raise bad_request(f"the emulator does not apply to the {target.subresource} "
                              "subresource")
        validation.check_shape(patch)
        applied = self._own_type(target, patch)
        for field in ("kind", "apiVersion"):
            if field not in patch:
                raise bad_request(f"the applied configuration has no {field}: apply patches "
                                  "need apiVersion, kind and metadata.name")
        self._check_namespace(target.namespace)
        old = self.store.get(target.resource_type, target.namespace, target.name)
        for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields",
                      "generation"):
            if field == "resourceVersion" and applied["metadata"].get(field) and old and \
                    applied["metadata"][field] != old["metadata"]["resourceVersion"]:
                raise stale(target.resource_type, target.name)
            applied["metadata"].pop(field, None)
        applied.pop("status", None)
        fieldsets.default_list_keys(applied)
        obj = merging.server_side_apply(
            old, applied, manager=options.manager, force=options.force,
            api_version=target.resource_type.api_version, kind_plural=target.resource_type.plural)
        if old is not None:
            obj = self._keep_server_fields(target, old, obj)
        return self._write(target, old, obj, options)

    def delete(self, target: Target, body: Any, dry_run: bool,
               propagation: str = "") -> dict[str, Any]:
        """propagation: the query's propagationPolicy; the body's DeleteOptions win."""
        propagation = propagation or "Background"
        if isinstance(body, dict):
            propagation = body.get("propagationPolicy") or propagation
            if isinstance(body.get("orphanDependents"), bool) and body["orphanDependents"]:
                propagation = "Orphan"
            dry_run = dry_run or body.get("dryRun") == ["All"]
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{propagation}": '
                              'supported values: "Background", "Foreground", "Orphan"')
        if target.resource_type == NAMESPACES and target.name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{target.name}" is forbidden: this '
                           "namespace may not be deleted", {"name": target.name,
                                                            "kind": "namespaces"})
        with self.store.lock:
            old = self._existing(target)
            if dry_run:
                return old
            self._delete_tree(target.resource_type, old, propagation)
            return old

    def _delete_tree(self, resource_type: ResourceType, obj: dict[str, Any],
                     propagation: str) -> None:
        metadata = obj["metadata"]
        for dependent_type, dependent in self.store.owned_by(metadata["uid"]):
            if propagation == "Orphan":
                dependent["metadata"]["ownerReferences"] = [
                    reference for reference in dependent["metadata"]["ownerReferences"]
                    if reference.get("uid") != metadata["uid"]]
                self.store.put(dependent_type, dependent)
            else:
                self._delete_tree(dependent_type, dependent, "Background")
        if resource_type == NAMESPACES:
            for contained_type in RESOURCE_TYPES:
                if contained_type.namespaced:
                    for contained in self.store.list(contained_type, metadata["name"]):
                        self.store.remove(contained_type, metadata["name"],
                                          contained["metadata"]["name"])
        self.store.remove(resource_type, metadata.get("namespace", ""), metadata["name"])

    # shared steps

    def _existing(self, target: Target) -> dict[str, Any]:
        if target.namespace:
            self._check_namespace(target.namespace)
        old = self.store.get(target.resource_type, target.namespace, target.name)
        if old is None:
            raise not_found(target.resource_type, target.name)
        return old

    def _check_namespace(self, namespace: str) -> None:
        if namespace and self.store.get(NAMESPACES, "", namespace) is None:
            raise namespace_not_found(namespace)

    def _own_type(self, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of body, checked to be of the URL's kind, namespace and name."""
        resource_type = target.resource_type
        obj = copy.deepcopy(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind is not None and kind != resource_type.kind:
            raise bad_request(f'the kind of the object ("{kind}") does not match the URL, '
                              f'which serves {resource_type.kind}')
        if api_version is not None and api_version != resource_type.api_version:
            raise bad_request(f'the apiVersion of the object ("{api_version}") does not match '
                              f'the URL, which serves {resource_type.api_version}')
        obj["kind"], obj["apiVersion"] = resource_type.kind, resource_type.api_version
        metadata = obj.setdefault("metadata", {})
        if resource_type.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != target.namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            metadata["namespace"] = target.namespace
        else:
            metadata.pop("namespace", None)
        if target.name and metadata.get("name") and metadata["name"] != target.name:
            raise bad_request("the name of the object does not match the name on the URL")
        if target.name:
            metadata["name"] = target.name
        return obj

    def _keep_server_fields(self, target: Target, old: dict[str, Any],
                            obj: dict[str, Any]) -> dict[str, Any]:
        """Status through the main resource and everything but status through /status are
        ignored; metadata the server owns stays."""
        if target.subresource == "status":
            updated = copy.deepcopy(old)
            updated["status"] = obj.get("status", {})
            obj = updated
        elif "status" in target.resource_type.subresources:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if field in old["metadata"]:
                obj["metadata"][field] = old["metadata"][field]
        return obj

    def _write(self, target: Target, old: dict[str, Any] | None, obj: dict[str, Any],
               options: WriteOptions) -> dict[str, Any]:
        resource_type = target.resource_type
        validation.validate(resource_type, obj, old)
        validation.apply_defaults(resource_type, obj, old)
        metadata = obj["metadata"]
        if old is None:
            if "status" in resource_type.subresources:
                obj.setdefault("status", {})
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = now()
            if resource_type.generation:
                metadata["generation"] = 1
        elif resource_type.generation and _spec_of(old) != _spec_of(obj):
            metadata["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if options.dry_run:
            metadata.setdefault("resourceVersion", (old or {}).get("metadata", {}).get(
                "resourceVersion", ""))
            return obj
        if old is not None and _unchanged(old, obj):
            return old
        return self.store.put(resource_type, obj)

    def _write_scale(self, target: Target, old: dict[str, Any], scale: Any,
                     options: WriteOptions) -> dict[str, Any]:
        replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{target.name}" is invalid: '
                           f"spec.replicas: Invalid value: {replicas!r}: must be greater than "
                           "or equal to 0")
        obj = copy.deepcopy(old)
        obj["spec"]["replicas"] = replicas
        merging.record_update(old, obj, manager=options.manager,
                              api_version=target.resource_type.api_version, subresource="scale")
        written = self._write(Target(target.resource_type, target.namespace, target.name),
                              old, obj, options)
        return _scale_of(target.resource_type, written)


def _spec_of(obj: dict[str, Any]) -> Any:
    return {key: value for key, value in obj.items()
            if key not in ("metadata", "status", "kind", "apiVersion")}


def _unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def comparable(obj: dict[str, Any]) -> dict[str, Any]:
        copied = copy.deepcopy(obj)
        copied["metadata"].pop("resourceVersion", None)
        for entry in copied["metadata"].get("managedFields") or []:
            entry.pop("time", None)
        return copied
    return comparable(old) == comparable(new)


def _scale_of(resource_type: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    if "scale" not in resource_type.subresources:
        raise bad_request(f"{resource_type.qualified} has no scale subresource")
    metadata = obj["metadata"]
    match_labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid",
                                                        "resourceVersion", "creationTimestamp")
                         if key in metadata},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in match_labels.items())}}
