"""Caches: restore a pipeline's `cache` blocks before a task's first step, save them after the
task succeeds when the exact key was a miss.

A cache's `key`, `restore_keys` and `paths` are resolved in the task's workspace (so
`hash_files(...)` hashes the checked-out files). Restore takes the entry saved under the exact key,
else the newest entry whose key starts with one of `restore_keys`, in order. `paths` are relative
to the workspace (they may not climb out of it) or start with `~/` for the home directory (a
Maven repository, say); in the archive they are stored as `workspace/...` and `home/...` and are
extracted with tarfile's "data" filter, so an archive cannot write outside those two roots. An
archive whose checksum does not match the index is treated as a miss.

Archives live under `<cache_dir>/<pipeline>/<name>/`; the index is the store's (CacheIndex). The
first save of a key wins: a concurrent save of the same key is dropped.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.executor.archive import file_sha256
from flowplan.executor.errors import PathEscape
from flowplan.executor.layout import RunLayout, inside

Say = Callable[[str], None]


@dataclass(frozen=True)
class CacheSave:
    """A cache to save after the task succeeds."""

    name: str
    key: str
    paths: tuple[str, ...]


def _roots(workspace: Path) -> dict[str, Path]:
    return {"workspace": workspace, "home": Path.home()}


def _split(path: str, workspace: Path) -> tuple[str, str]:
    """(root name, path relative to it) of a cache path; PathEscape when it leaves its root."""
    if path.startswith("~/"):
        relative = path[2:]
        inside(Path.home(), relative, "cache path")
        return "home", os.path.normpath(relative)
    inside(workspace, path, "cache path")
    return "workspace", os.path.normpath(path)


def restore(caches: dict[str, dict[str, Any]], resolve: Callable[[Any], Any], store: Any,
            layout: RunLayout, workspace: Path, say: Say) -> list[CacheSave]:
    """Restore every cache; returns the ones to save after success (exact key missed)."""
    saves = []
    for name, block in caches.items():
        key = str(resolve(block.get("key")))
        restore_keys = [str(k) for k in resolve(block.get("restore_keys") or [])]
        paths = tuple(str(p) for p in resolve(block.get("paths") or []))
        for path in paths:
            _split(path, workspace)
        entry = store.find_cache_entry(layout.pipeline, name, key)
        exact = entry is not None and _intact(entry)
        if not exact:
            entry = None
            for prefix in restore_keys:
                candidate = store.newest_cache_entry(layout.pipeline, name, prefix)
                if candidate is not None and _intact(candidate):
                    entry = candidate
                    break
        if entry is None:
            say(f"cache {name}: no entry for key {key}")
        else:
            _extract(Path(entry.path), workspace)
            how = "" if exact else " (restore key)"
            say(f"cache {name}: restored from key {entry.key}{how}")
        if not exact:
            saves.append(CacheSave(name, key, paths))
    return saves


def save(pending: list[CacheSave], store: Any, layout: RunLayout, workspace: Path,
         say: Say) -> None:
    for cache in pending:
        members = []
        for path in cache.paths:
            root, relative = _split(path, workspace)
            if (_roots(workspace)[root] / relative).exists():
                members.append((root, relative))
        if not members:
            say(f"cache {cache.name}: nothing to save (none of {', '.join(cache.paths)} exists)")
            continue
        target = layout.cache_path(cache.name, cache.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".save.", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for root, relative in members:
                    tar.add(_roots(workspace)[root] / relative, arcname=f"{root}/{relative}")
            digest = file_sha256(Path(temporary))
            try:
                os.link(temporary, target)      # fails if another save of this key got there
            except FileExistsError:
                say(f"cache {cache.name}: key {cache.key} was saved meanwhile")
                continue
        finally:
            Path(temporary).unlink(missing_ok=True)
        if store.add_cache_entry(layout.pipeline, cache.name, cache.key, path=str(target),
                                 size=target.stat().st_size, sha256=digest):
            say(f"cache {cache.name}: saved under key {cache.key}")


def _intact(entry: Any) -> bool:
    path = Path(entry.path)
    return path.is_file() and file_sha256(path) == entry.sha256


def _extract(archive: Path, workspace: Path) -> None:
    roots = _roots(workspace)
    with tarfile.open(archive, "r:gz") as tar:
        by_root: dict[str, list[tarfile.TarInfo]] = {}
        for member in tar.getmembers():
            root, _, rest = member.name.partition("/")
            if root not in roots or not rest:
                raise PathEscape(f"cache archive {archive.name} holds {member.name!r}, outside "
                                 f"its roots")
            member.name = rest
            by_root.setdefault(root, []).append(member)
        for root, members in by_root.items():
            roots[root].mkdir(parents=True, exist_ok=True)
            tar.extractall(roots[root], members=members, filter="data")
