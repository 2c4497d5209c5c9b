"""Manifests of the workspace read into Kubernetes objects: which files (`manifests` names a
file, a directory or a glob), their YAML documents, `${NAME}` placeholders filled from
`variables`, and the rendered text a run keeps.

Manifest files are input from outside and are checked as such: every path (symlinks resolved)
must stay inside the workspace; a file is at most MAX_FILE_BYTES and all of them MAX_TOTAL_BYTES;
YAML is read with the safe loader, a malformed document reported with its file and line; every
document must be a mapping with apiVersion, kind and metadata.name (a `kind: ...List` is taken
item by item); the same object twice is refused naming both places.

Placeholders: `${NAME}` in any string (keys too) is replaced by the text of variable NAME;
a string that is exactly `${NAME}` takes the variable's value with its type (`replicas:
${REPLICAS}` with `REPLICAS = 3` is the number 3). A placeholder naming no variable is an error at
its file and line; `$${` writes a literal `${`. Substitution happens after parsing, so a value
can never change the YAML's structure. Objects are rebuilt while substituting, counting nodes, so
a document whose aliases expand past MAX_NODES is refused instead of exhausting memory.

Talking to the cluster is flowplan_providers.kubernetes.cluster's; the step decides what to do
with the objects.
"""

from __future__ import annotations

import glob as globbing
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MAX_FILES = 500
MAX_OBJECTS = 2000
MAX_NODES = 1_000_000                  # strings, numbers, lists and maps, after alias expansion
SUFFIXES = (".yaml", ".yml", ".json")
DATA_NOT_KEPT = "flowplan.dev/data-not-kept"   # a kept Secret without its data

_PLACEHOLDER = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_GLOB = re.compile(r"[*?\[]")

try:                                   # the C loader when PyYAML has it: same rules, faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:                 # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


class ManifestError(Exception):
    """A manifest cannot be used; the text names the file (relative to the workspace) and the
    line when there is one."""


@dataclass(frozen=True)
class Manifest:
    """One object of a manifest file and where it came from."""

    object: dict
    file: str                           # relative to the workspace
    line: int                           # 1-based line of its document

    @property
    def where(self) -> str:
        return f"{self.file} line {self.line}"


def manifest_files(workspace: Path, pattern: str) -> list[Path]:
    """The files `pattern` names in `workspace`: a file, the *.yaml/*.yml/*.json files of a
    directory (not its subdirectories), or those a glob matches (`**` included), sorted.
    ManifestError (or PathEscape for a path outside the workspace)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ManifestError("`manifests` is empty: give a file, a directory or a glob in the "
                            "workspace")
    root = Path(os.path.realpath(workspace))
    if _GLOB.search(pattern):
        if Path(pattern).is_absolute() or pattern.startswith("~") or ".." in Path(pattern).parts:
            raise PathEscape(f"manifests {pattern!r} must be a glob relative to the workspace, "
                             "without '..'")
        matched = sorted(globbing.glob(pattern, root_dir=root, recursive=True))
        files = []
        for relative in matched:
            path = inside(root, relative, "manifest")
            if path.is_file() and (path.suffix in SUFFIXES or not Path(pattern).suffix == ""):
                files.append(path)
        if not files:
            raise ManifestError(f"manifests {pattern!r} matches no file in the workspace")
        return _limited(_unique(files), pattern)
    path = inside(root, pattern, "manifests")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        files = [inside(root, p.relative_to(root), "manifest") for p in files]
        files = [p for p in files if p.is_file()]
        if not files:
            raise ManifestError(f"manifests {pattern!r} is a directory without .yaml, .yml or "
                                ".json files")
        return _limited(_unique(files), pattern)
    if not path.exists():
        raise ManifestError(f"manifests {pattern!r} does not exist in the workspace")
    if not path.is_file():
        raise ManifestError(f"manifests {pattern!r} is not a file or directory")
    return [path]


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def _limited(files: list[Path], pattern: str) -> list[Path]:
    if len(files) > MAX_FILES:
        raise ManifestError(f"manifests {pattern!r} names {len(files)} files; at most "
                            f"{MAX_FILES} are read")
    return files


def read_manifests(workspace: Path, files: list[Path], variables: dict[str, Any]
                   ) -> list[Manifest]:
    """The objects of `files`, placeholders filled; ManifestError."""
    root = Path(os.path.realpath(workspace))
    total = 0
    found: list[Manifest] = []
    for path in files:
        shown = _shown(root, path)
        text, size = _read(path, shown)
        total += size
        if total > MAX_TOTAL_BYTES:
            raise ManifestError(f"the manifests are larger than {MAX_TOTAL_BYTES // 2**20} MiB "
                                f"together (at {shown})")
        for line, document in _documents(text, shown):
            budget = [MAX_NODES]
            filled = _fill(document, variables, text, shown, budget)
            for obj in _objects(filled, shown, line):
                found.append(Manifest(obj, shown, line))
                if len(found) > MAX_OBJECTS:
                    raise ManifestError(f"the manifests hold more than {MAX_OBJECTS} objects")
    if not found:
        raise ManifestError("the manifests hold no object (" +
                            ", ".join(_shown(root, p) for p in files) + ")")
    _check_unique(found)
    return found


def _shown(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def _read(path: Path, shown: str) -> tuple[str, int]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(f"{shown}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ManifestError(f"{shown} line {line}: not UTF-8 text") from None


def _documents(text: str, shown: str) -> list[tuple[int, Any]]:
    """(line, data) of each non-empty YAML document of `text`."""
    loader = _Loader(text)
    found = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:
                found.append((node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "").split())
        if exc.context and exc.problem and exc.context_mark is not None:
            problem += (f" ({' '.join(str(exc.context).split())} at line "
                        f"{exc.context_mark.line + 1})")
        raise ManifestError(f"{shown}{line}: malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{shown}: malformed YAML: {' '.join(str(exc).split())[:200]}"
                            ) from None
    except RecursionError:
        raise ManifestError(f"{shown}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    return found


def _fill(value: Any, variables: dict[str, Any], text: str, shown: str,
          budget: list[int]) -> Any:
    """`value` rebuilt with placeholders filled (see the module text)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ManifestError(f"{shown}: a document is too large once its YAML aliases are "
                            f"expanded (more than {MAX_NODES} values)")
    if isinstance(value, str):
        return _fill_text(value, variables, text, shown)
    if isinstance(value, list):
        return [_fill(item, variables, text, shown, budget) for item in value]
    if isinstance(value, dict):
        filled = {}
        for key, item in value.items():
            new_key = _fill_text(key, variables, text, shown) if isinstance(key, str) else key
            if not isinstance(new_key, str):
                new_key = str(new_key) if isinstance(new_key, (int, float, bool)) else new_key
            filled[new_key] = _fill(item, variables, text, shown, budget)
        return filled
    if hasattr(value, "isoformat"):                   # YAML timestamps: the API wants text
        return value.isoformat()
    if isinstance(value, bytes):
        raise ManifestError(f"{shown}: binary (!!binary) values are not supported")
    return value


def _fill_text(value: str, variables: dict[str, Any], text: str, shown: str) -> Any:
    if "${" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole and not whole.group(1):
        name = whole.group(2)
        _check_name(name, variables, text, shown)
        found = variables[name]
        return found if isinstance(found, (int, float, bool)) else _as_text(found)

    def replaced(match: re.Match) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        name = match.group(2)
        _check_name(name, variables, text, shown)
        return _as_text(variables[name])

    return _PLACEHOLDER.sub(replaced, value)


def _check_name(name: str, variables: dict[str, Any], text: str, shown: str) -> None:
    where = _line_of(text, "${" + name + "}")
    location = f"{shown} line {where}" if where else shown
    if not _NAME.match(name):
        raise ManifestError(f"{location}: ${{{name[:60]}}} is not a placeholder: write "
                            "${NAME} for a variable of `variables`, or $${ for a literal ${")
    if name not in variables:
        known = ", ".join(sorted(variables)) or "none"
        raise ManifestError(f"{location}: ${{{name}}} names no variable of the step's "
                            f"`variables` (it has: {known}); write $${{ for a literal ${{")


def _line_of(text: str, needle: str) -> int | None:
    for match in re.finditer(r"(?<!\$)" + re.escape(needle), text):
        return text.count("\n", 0, match.start()) + 1
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _objects(document: Any, shown: str, line: int) -> list[dict]:
    where = f"{shown} line {line}"
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: a document must be a Kubernetes object (a mapping with "
                            f"apiVersion, kind and metadata), not {_type_name(document)}")
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"),
                                                                      list):
        found = []
        for item in document["items"]:
            found.extend(_objects(item, shown, line))
        return found
    for key in ("apiVersion", "kind"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ManifestError(f"{where}: the object has no `{key}`")
    meta = document.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        if isinstance(meta, dict) and meta.get("generateName"):
            raise ManifestError(f"{where}: {document['kind']} uses generateName, which "
                                "server-side apply cannot update: give metadata.name")
        raise ManifestError(f"{where}: {document['kind']} has no metadata.name")
    namespace = meta.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and namespace):
        raise ManifestError(f"{where}: metadata.namespace must be text")
    for key in ("labels", "annotations"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise ManifestError(f"{where}: metadata.{key} must be a mapping")
    return [document]


def _type_name(value: Any) -> str:
    return {list: "a list", str: "text", int: "a number", float: "a number",
            bool: "true or false"}.get(type(value), type(value).__name__)


def identity(obj: dict, namespace: str | None = None) -> tuple[str, str, str, str]:
    """(API group, kind, namespace or "", name): what makes an object the same one."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return (group, str(obj.get("kind")), str(meta.get("namespace") or namespace or ""),
            str(meta.get("name")))


def _check_unique(found: list[Manifest]) -> None:
    seen: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in found:
        key = identity(manifest.object)
        if key in seen:
            raise ManifestError(f"{manifest.where}: {key[1]} {key[3]} is also defined at "
                                f"{seen[key].where}")
        seen[key] = manifest


def rendered_text(objects: list[dict]) -> str:
    """The objects as one multi-document YAML text (what the run keeps). A Secret's data is not
    kept: it stands there without `data` and `stringData`, marked so."""
    parts = []
    for obj in objects:
        note = ""
        if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
            meta = obj.get("metadata") or {}
            note = f"# Secret {meta.get('name')}: its data is not kept, nor applied again\n"
            obj = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
            obj["metadata"] = {**meta, "annotations": {
                **(meta.get("annotations") or {}), DATA_NOT_KEPT: "true"}}
        parts.append(note + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False,
                                           allow_unicode=True))
    return "---\n".join(parts)


def parse_rendered(text: str) -> list[dict]:
    """The objects of a rendered text (rendered_text's), for applying a run's manifests again:
    Secrets whose data was not kept are left out (applying them would empty them).
    ManifestError."""
    found = []
    for line, document in _documents(text, "rendered manifests"):
        for obj in _objects(document, "rendered manifests", line):
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if annotations.get(DATA_NOT_KEPT) != "true":
                found.append(obj)
    return found
