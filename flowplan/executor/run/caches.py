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
first save of a key wins: a concurrent save of the same key is dropped. On a celery worker whose
files move through the server (`remote`, flowplan.executor.distributed.remote_files.TaskFiles),
an entry is downloaded into this machine's cache directory (its SHA-256 checked) before it is
extracted, and a saved archive is uploaded: the server keeps it and indexes it.

With `run_as`, `~/` is that user's home, and the workspace and the home are read (save) and
written (restore) by a child process as that user
(flowplan.executor.step_process.step_user.file_work): flowplan itself only reads and writes the
archives, so what the user's processes do meanwhile cannot make it read or write anything the user
may not.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import RunLayout, inside
from flowplan.executor.step_process import step_user, user_files
from flowplan.executor.step_process.step_user import StepUser
from flowplan.steps.archive import file_sha256

Say = Callable[[str], None]


@dataclass(frozen=True)
class CacheSave:
    """A cache to save after the task succeeds."""

    name: str
    key: str
    paths: tuple[str, ...]


def _home(user: StepUser | None) -> Path:
    return user.home if user is not None else Path.home()


def _roots(workspace: Path, user: StepUser | None = None) -> dict[str, Path]:
    return {"workspace": workspace, "home": _home(user)}


def _split(path: str, workspace: Path, user: StepUser | None = None) -> tuple[str, str]:
    """(root name, path relative to it) of a cache path; PathEscape when it leaves its root."""
    if path.startswith("~/"):
        relative = path[2:]
        inside(_home(user), relative, "cache path")
        return "home", os.path.normpath(relative)
    inside(workspace, path, "cache path")
    return "workspace", os.path.normpath(path)


def restore(caches: dict[str, dict[str, Any]], resolve: Callable[[Any], Any], store: Any,
            layout: RunLayout, workspace: Path, say: Say,
            user: StepUser | None = None, remote: Any = None) -> list[CacheSave]:
    """Restore every cache; returns the ones to save after success (exact key missed)."""
    saves = []
    for name, block in caches.items():
        key = str(resolve(block.get("key")))
        restore_keys = [str(k) for k in resolve(block.get("restore_keys") or [])]
        paths = tuple(str(p) for p in resolve(block.get("paths") or []))
        for path in paths:
            _split(path, workspace, user)
        entry = store.find_cache_entry(layout.pipeline, name, key)
        archive = _archive(entry, layout, remote, say)
        exact = archive is not None
        if not exact:
            entry = None
            for prefix in restore_keys:
                candidate = store.newest_cache_entry(layout.pipeline, name, prefix)
                archive = _archive(candidate, layout, remote, say)
                if archive is not None:
                    entry = candidate
                    break
        if entry is None or archive is None:
            say(f"cache {name}: no entry for key {key}")
        else:
            _extract(archive, workspace, user)
            how = "" if exact else " (restore key)"
            say(f"cache {name}: restored from key {entry.key}{how}")
        if not exact:
            saves.append(CacheSave(name, key, paths))
    return saves


def save(pending: list[CacheSave], store: Any, layout: RunLayout, workspace: Path,
         say: Say, user: StepUser | None = None, remote: Any = None) -> None:
    for cache in pending:
        members = []
        for path in cache.paths:
            root, relative = _split(path, workspace, user)
            if user is not None or (_roots(workspace)[root] / relative).exists():
                members.append((root, relative))
        nothing = f"cache {cache.name}: nothing to save (none of {', '.join(cache.paths)} exists)"
        if not members:
            say(nothing)
            continue
        target = layout.cache_path(cache.name, cache.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".save.", dir=target.parent)
        try:
            if user is None:
                with os.fdopen(handle, "wb") as raw, \
                        tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    for root, relative in members:
                        tar.add(_roots(workspace)[root] / relative, arcname=f"{root}/{relative}")
            else:
                try:
                    with os.fdopen(handle, "wb") as raw:
                        code, said = step_user.file_work(
                            user, "save", [str(workspace), str(user.home),
                                           *(f"{root}/{relative}" for root, relative in members)],
                            cwd=workspace, stdout=raw)
                except step_user.FileWorkFailed as exc:
                    say(f"cache {cache.name}: not saved: {exc}")
                    continue
                if code == user_files.NOTHING:
                    say(nothing)
                    continue
                if code != 0:
                    say(f"cache {cache.name}: not saved: saving as {user.name} failed (exit code "
                        f"{code}): {said[-500:]}")
                    continue
            digest = file_sha256(Path(temporary))
            if remote is not None:
                _upload(remote, cache, Path(temporary), digest, say)
                continue
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


def _upload(remote: Any, cache: CacheSave, archive: Path, digest: str, say: Say) -> None:
    from flowplan.executor.distributed.remote_files import RemoteFileError

    try:
        saved = remote.keep_cache(cache.name, cache.key, archive, digest)
    except RemoteFileError as exc:
        say(f"cache {cache.name}: not saved: {exc}")
        return
    say(f"cache {cache.name}: saved under key {cache.key}" if saved
        else f"cache {cache.name}: key {cache.key} was saved meanwhile")


def _archive(entry: Any, layout: RunLayout, remote: Any, say: Say) -> Path | None:
    """The entry's archive on this machine, intact; None when there is none."""
    if entry is None:
        return None
    if remote is None:
        return Path(entry.path) if _intact(entry) else None
    from flowplan.executor.distributed.remote_files import RemoteFileError

    try:
        return remote.fetch_cache(entry.name, entry.key, layout.cache_path(entry.name, entry.key),
                                  entry.sha256)
    except RemoteFileError as exc:
        say(f"cache {entry.name}: key {entry.key} not restored: {exc}")
        return None


def _intact(entry: Any) -> bool:
    path = Path(entry.path)
    return path.is_file() and file_sha256(path) == entry.sha256


def _extract(archive: Path, workspace: Path, user: StepUser | None = None) -> None:
    with open(archive, "rb") as data:
        if user is None:
            try:
                user_files.extract(data, _roots(workspace), f"cache archive {archive.name}")
            except user_files.Refused as exc:
                raise PathEscape(str(exc)) from None
            return
        code, said = step_user.file_work(user, "restore", [str(workspace), str(user.home)],
                                         cwd=workspace, stdin=data)
    if code == user_files.REFUSED:
        raise PathEscape(f"{archive.name}: {said.splitlines()[-1] if said else 'refused'}")
    if code != 0:
        raise step_user.FileWorkFailed(f"restoring {archive.name} as {user.name} failed (exit "
                                       f"code {code}): {said[-500:]}")
