"""How a write changes an object and who then owns which fields:

- `server_side_apply`: the `application/apply-patch+yaml` PATCH. The applier's new field set
  replaces its old one; fields it set before and no longer sets (and nobody else owns) are
  removed; a field another manager owns with a different value is a 409 Conflict naming the field
  and the manager, unless `force`, which moves the field to the applier.
- `record_update`: PUT, POST and the other patches (operation "Update"): the fields the write
  changed move to its manager.
- `merge_patch` (RFC 7386), `strategic_merge_patch` (lists with a merge key merged by item,
  `$patch: delete|replace`, null deletes) and `json_patch` (RFC 6902).

Field sets and FieldsV1 are in fieldsets.py.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import fieldsets
from .errors import ApiError, bad_request
from .fieldsets import Path


@dataclass
class ManagerEntry:
    manager: str
    operation: str           # "Apply" | "Update"
    api_version: str
    time: str
    subresource: str
    paths: set[Path]

    def shown(self) -> dict[str, Any]:
        entry = {"manager": self.manager, "operation": self.operation,
                 "apiVersion": self.api_version, "time": self.time, "fieldsType": "FieldsV1",
                 "fieldsV1": fieldsets.to_fields_v1(self.paths)}
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_entries(obj: dict[str, Any] | None) -> list[ManagerEntry]:
    entries = []
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict):
            continue
        entries.append(ManagerEntry(
            str(entry.get("manager", "")), str(entry.get("operation", "Update")),
            str(entry.get("apiVersion", "")), str(entry.get("time", "")),
            str(entry.get("subresource", "")), fieldsets.from_fields_v1(entry.get("fieldsV1"))))
    return entries


def write_entries(obj: dict[str, Any], entries: list[ManagerEntry]) -> None:
    kept = [entry.shown() for entry in entries if entry.paths]
    obj.setdefault("metadata", {})["managedFields"] = kept


def _find(entries: list[ManagerEntry], manager: str, operation: str,
          subresource: str = "") -> ManagerEntry | None:
    for entry in entries:
        if (entry.manager, entry.operation, entry.subresource) == (manager, operation,
                                                                   subresource):
            return entry
    return None


def conflict_error(kind: str, name: str, conflicts: list[tuple[Path, ManagerEntry]]) -> ApiError:
    causes, lines = [], []
    for path, entry in conflicts:
        message = f'conflict with "{entry.manager}"'          # as kube-apiserver words it
        if entry.subresource:
            message += f' with subresource "{entry.subresource}"'
        if entry.operation == "Update":
            message += f" using {entry.api_version} at {entry.time}"
        causes.append({"type": "FieldManagerConflict", "message": message,
                       "field": fieldsets.describe(path)})
        lines.append(f"{message}: {fieldsets.describe(path)}")
    count = len(conflicts)
    text = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(lines)
    return ApiError(409, "Conflict", text, {"name": name, "kind": kind, "causes": causes})


def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str,
                      force: bool, api_version: str, kind_plural: str) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: it is created)."""
    entries = read_entries(live)
    applied_paths = fieldsets.field_set(applied)
    name = applied.get("metadata", {}).get("name", "")
    base = copy.deepcopy(live) if live is not None else {}

    conflicts = []
    for entry in entries:
        if entry.manager == manager and entry.operation == "Apply":
            continue
        for path in sorted(applied_paths & entry.paths):
            if path[-1][0] == "k":
                continue
            if fieldsets.value_at(base, path) != fieldsets.value_at(applied, path):
                conflicts.append((path, entry))
    if conflicts and not force:
        raise conflict_error(kind_plural, name, conflicts)
    for path, entry in conflicts:
        entry.paths.discard(path)

    mine = _find(entries, manager, "Apply")
    others = [entry for entry in entries if entry is not mine]
    for path in sorted((mine.paths if mine else set()) - applied_paths, key=len, reverse=True):
        if not any(other_path[:len(path)] == path for entry in others
                   for other_path in entry.paths):
            fieldsets.remove_path(base, path)
    result = apply_merge(base, applied)
    if mine is None:
        mine = ManagerEntry(manager, "Apply", api_version, now(), "", set())
        entries.append(mine)
    mine.paths, mine.api_version, mine.time = applied_paths, api_version, now()
    write_entries(result, entries)
    return result


def apply_merge(live: Any, applied: Any, field: str = "") -> Any:
    """Applied values over live ones: maps merged, associative lists merged by item key (the
    applied order first), everything else replaced."""
    if isinstance(live, dict) and isinstance(applied, dict):
        result = dict(live)
        for name, value in applied.items():
            result[name] = apply_merge(live.get(name), value, name) if name in live else \
                copy.deepcopy(value)
        return result
    if isinstance(live, list) and isinstance(applied, list):
        keys = fieldsets.list_keys(field, applied)
        if keys is not None and fieldsets.list_keys(field, live) == keys:
            by_key = {fieldsets.item_key(item, keys): item for item in live}
            merged = [apply_merge(by_key.get(fieldsets.item_key(item, keys)), item)
                      if fieldsets.item_key(item, keys) in by_key else copy.deepcopy(item)
                      for item in applied]
            applied_keys = {fieldsets.item_key(item, keys) for item in applied}
            return merged + [item for item in live
                             if fieldsets.item_key(item, keys) not in applied_keys]
    return copy.deepcopy(applied)


def record_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str,
                  api_version: str, subresource: str = "") -> None:
    """Moves the fields the write changed to `manager` (operation Update) in new's managedFields."""
    entries = read_entries(old)
    old_paths = fieldsets.field_set(old) if old else set()
    new_paths = fieldsets.field_set(new)
    changed = {path for path in new_paths
               if path not in old_paths
               or (path[-1][0] != "k"
                   and fieldsets.value_at(old, path) != fieldsets.value_at(new, path))}
    removed = old_paths - new_paths
    mine = _find(entries, manager, "Update", subresource)
    for entry in entries:
        entry.paths -= removed
        if entry is not mine:
            entry.paths -= changed
    if changed:
        if mine is None:
            mine = ManagerEntry(manager, "Update", api_version, now(), subresource, set())
            entries.append(mine)
        mine.paths |= changed
        mine.time, mine.api_version = now(), api_version
    write_entries(new, entries)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


STRATEGIC_MERGE_KEYS = {"containers": "name", "initContainers": "name",
                        "ephemeralContainers": "name", "env": "name", "volumes": "name",
                        "volumeMounts": "mountPath", "imagePullSecrets": "name",
                        "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip"}


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if any(isinstance(item, dict) and "containerPort" in item
                                      for item in items) else "port"
    return STRATEGIC_MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes' strategic merge patch for the fields the emulator's kinds have; directives
    the emulator does not need (`$setElementOrder`, `$retainKeys`) are accepted and ignored."""
    if not isinstance(patch, dict):
        return _without_directives(patch)
    if patch.get("$patch") == "replace":
        return _without_directives({k: v for k, v in patch.items() if k != "$patch"})
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if name.startswith("$"):
            continue
        if value is None:
            result.pop(name, None)
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(name, None)
        elif isinstance(value, list) and isinstance(result.get(name), list) \
                and _merge_key(name, value + result[name]):
            result[name] = _merge_list(result[name], value, _merge_key(name, value +
                                                                        result[name]))
        elif isinstance(value, dict):
            result[name] = strategic_merge_patch(result.get(name), value, name)
        else:
            result[name] = _without_directives(value)
    return result


def _merge_list(live: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_without_directives(item) for item in patch
                if not (isinstance(item, dict) and item.get("$patch") == "replace")]
    result = [copy.deepcopy(item) for item in live]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"the strategic merge patch has a list item without its merge "
                              f"key {key!r}: {json.dumps(item)[:200]}")
        index = next((i for i, existing in enumerate(result)
                      if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_without_directives(item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_without_directives(item) for item in value]
    return value


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("a JSON patch (application/json-patch+json) must be a list of "
                          "operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise bad_request(f"invalid JSON patch operation: {json.dumps(operation)[:200]}")
        op, path = operation.get("op"), operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise bad_request(f'JSON patch operation "{op}" at {path} has no value')
        if op == "test":
            if _pointer_get(document, path) != operation["value"]:
                raise ApiError(422, "Invalid", f"the JSON patch test at {path} failed")
        elif op == "remove":
            _pointer_remove(document, path)
        elif op == "add":
            document = _pointer_set(document, path, copy.deepcopy(operation["value"]), True)
        elif op == "replace":
            _pointer_get(document, path)
            document = _pointer_set(document, path, copy.deepcopy(operation["value"]), False)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise bad_request(f'JSON patch operation "{op}" at {path} has no "from"')
            value = copy.deepcopy(_pointer_get(document, source))
            if op == "move":
                _pointer_remove(document, source)
            document = _pointer_set(document, path, value, True)
        else:
            raise bad_request(f"unknown JSON patch operation {op!r}")
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _container(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist")
    return node


def _pointer_get(document: Any, path: str) -> Any:
    return _container(document, _pointer(path), path)


def _pointer_remove(document: Any, path: str) -> None:
    parts = _pointer(path)
    if not parts:
        raise bad_request("a JSON patch cannot remove the whole object")
    parent = _container(document, parts[:-1], path)
    _container(document, parts, path)
    if isinstance(parent, dict):
        del parent[parts[-1]]
    else:
        del parent[int(parts[-1])]


def _pointer_set(document: Any, path: str, value: Any, insert: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(document, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and insert:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (0 if insert else 1):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist")
    else:
        raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist")
    return document
