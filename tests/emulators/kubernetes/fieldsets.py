"""Field sets: which fields of an object a manager owns, and their `FieldsV1` form in
metadata.managedFields (https://kubernetes.io/docs/reference/using-api/server-side-apply/).

A path is a tuple of elements, each a pair:
    ("f", "spec")                       a field of a map
    ("k", '{"name":"app"}')             an item of an associative list, named by its keys
A set holds the leaves an object sets (scalars, empty maps, atomic lists) and the items of
associative lists; in FieldsV1 that is {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}":
{".": {}, "f:image": {}}}}}. Which lists are associative, and by which keys, follows the
Kubernetes API's `x-kubernetes-list-map-keys` for the fields the emulator's kinds use
(`LIST_KEYS`); every other list is atomic, owned and replaced as a whole.

The apply and patch algorithms that use these sets are in merging.py.
"""

from __future__ import annotations

import json
from typing import Any

Path = tuple[tuple[str, str], ...]

# field name -> the keys naming its items (ports: the first key set whose keys the items have)
LIST_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "containers": (("name",),), "initContainers": (("name",),),
    "ephemeralContainers": (("name",),), "env": (("name",),), "volumes": (("name",),),
    "volumeMounts": (("mountPath",),), "imagePullSecrets": (("name",),),
    "ports": (("containerPort", "protocol"), ("port", "protocol")),
    "conditions": (("type",),), "ownerReferences": (("uid",),), "hostAliases": (("ip",),),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"),),
}
# Fields the server owns: never part of a manager's set.
SERVER_FIELDS = {"apiVersion", "kind", "status"}
SERVER_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation",
                   "creationTimestamp", "managedFields", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "selfLink", "generateName"}


def list_keys(field: str, items: list[Any]) -> tuple[str, ...] | None:
    """The keys of an associative list, or None when the list is atomic."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for keys in LIST_KEYS.get(field, ()):
        if all(all(key in item for key in keys) for item in items):
            return keys
    return None


def item_key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    return json.dumps({key: item[key] for key in sorted(keys)}, separators=(",", ":"),
                      sort_keys=True)


def field_set(obj: dict[str, Any]) -> set[Path]:
    paths: set[Path] = set()
    for name, value in obj.items():
        if name in SERVER_FIELDS:
            continue
        if name == "metadata" and isinstance(value, dict):
            value = {key: item for key, item in value.items() if key not in SERVER_METADATA}
            if not value:
                continue
        _collect(value, (("f", name),), name, paths)
    return paths


def _collect(value: Any, path: Path, field: str, paths: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            _collect(item, path + (("f", name),), name, paths)
        return
    keys = list_keys(field, value) if isinstance(value, list) else None
    if keys is None:
        paths.add(path)
        return
    for item in value:
        item_path = path + (("k", item_key(item, keys)),)
        paths.add(item_path)
        for name, member in item.items():
            _collect(member, item_path + (("f", name),), name, paths)


def _step(value: Any, element: tuple[str, str], field: str) -> tuple[bool, Any]:
    kind, name = element
    if kind == "f":
        if isinstance(value, dict) and name in value:
            return True, value[name]
        return False, None
    if isinstance(value, list):
        keys = list_keys(field, value)
        if keys is not None:
            for item in value:
                if item_key(item, keys) == name:
                    return True, item
    return False, None


def value_at(obj: Any, path: Path) -> tuple[bool, Any]:
    value, field = obj, ""
    for element in path:
        found, value = _step(value, element, field)
        if not found:
            return False, None
        if element[0] == "f":
            field = element[1]
    return True, value


def remove_path(obj: dict[str, Any], path: Path) -> None:
    found, parent = value_at(obj, path[:-1])
    if not found:
        return
    kind, name = path[-1]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(name, None)
    elif kind == "k" and isinstance(parent, list):
        field = next((n for k, n in reversed(path[:-1]) if k == "f"), "")
        keys = list_keys(field, parent)
        if keys is not None:
            parent[:] = [item for item in parent if item_key(item, keys) != name]


def describe(path: Path) -> str:
    """The field as the API server names it in conflicts: .spec.containers[name="app"].image"""
    text = ""
    for kind, name in path:
        if kind == "f":
            text += f".{name}"
        else:
            keys = json.loads(name)
            text += "[" + ",".join(f"{key}={json.dumps(value)}" for key, value in
                                   keys.items()) + "]"
    return text


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for kind, name in path:
            node = node.setdefault(f"{kind}:{name}", {})
        if any(other[:len(path)] == path and len(other) > len(path) for other in paths):
            node["."] = {}
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(tree, dict):
        return paths
    if not tree and prefix:
        paths.add(prefix)
    for key, child in tree.items():
        if key == ".":
            paths.add(prefix)
            continue
        kind, _, name = key.partition(":")
        if kind in ("f", "k", "v", "i"):
            paths |= from_fields_v1(child, prefix + ((kind, name),))
    return paths


def default_list_keys(value: Any, field: str = "") -> Any:
    """Fills the defaulted keys of associative list items (a port's protocol is TCP), as the
    API server does before it compares field sets."""
    if isinstance(value, dict):
        for name, member in value.items():
            default_list_keys(member, name)
    elif isinstance(value, list):
        for item in value:
            if field == "ports" and isinstance(item, dict):
                item.setdefault("protocol", "TCP")
            default_list_keys(item, field if not isinstance(item, dict) else "")
    return value
