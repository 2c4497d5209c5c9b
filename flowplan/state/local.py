"""The local state backend: one JSON state file, written atomically, guarded by a lock file.

Holds `LocalStateBackend` (read, atomic write with a kept `.backup`, lock, force-unlock). Layout
next to the state path, e.g. `.flowplan/state.json`:

    state.json                  the current state
    state.json.backup           the state as it was before the last write
    state.json.lock             present while a flowplan process holds the lock: JSON LockInfo
    .state.json.PID.XXXX.tmp    a write in progress by process PID (renamed over state.json)

A process killed in the middle of a write leaves its temp file behind; the next writer removes
the temp files of processes that no longer run.

The state names every resource flowplan provisioned: the state, its backup, its lock and the
temp files are readable by flowplan's user only (0600), and a directory made for them is 0711
(passable on the way to a run's workspace, not listable).

It leaves the lock itself (OS lock, holder details, taking over a dead holder's lock) to
flowplan.state.lock, the meaning of the state to flowplan.state.model and the coalescing of many
concurrent changes into few writes to flowplan.state.writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from json.encoder import encode_basestring as _quote
from pathlib import Path
from typing import Any, Iterator

from flowplan.events import EventSink, StateLockTakenOver, ignore
from flowplan.state.lock import (LockFile, LockInfo, StateLockedError, process_gone,
                                 this_process)
from flowplan.state.model import ResourceState, State, StateError

__all__ = ["LocalStateBackend", "LockInfo", "StateLockedError", "pretty_json"]


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _float_text(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


RESOURCE_INDENT = "\n    "        # where each resource starts inside the state's "resources" list


def pretty_json(value: Any, indent: str = "\n") -> str:
    """The same text as json.dumps(value, indent=2, ensure_ascii=False), about twice as fast.

    The standard library only has a C encoder for compact output; its pure-Python indenting
    encoder takes ~0.1 s for 5,000 resources. This one appends to a list and joins once, so it
    stays linear in the size of the output.
    """
    out: list[str] = []
    append = out.append

    def encode(value: Any, indent: str) -> None:
        if isinstance(value, str):
            append(_quote(value))
        elif value is None:
            append("null")
        elif value is True:
            append("true")
        elif value is False:
            append("false")
        elif isinstance(value, int):
            append(int.__repr__(value))
        elif isinstance(value, float):
            append(_float_text(value))
        elif isinstance(value, dict):
            if not value:
                append("{}")
                return
            inner = indent + "  "
            separator = "{" + inner
            for key, item in value.items():
                append(separator + _quote(_key_text(key)) + ": ")
                encode(item, inner)
                separator = "," + inner
            append(indent + "}")
        elif isinstance(value, (list, tuple)):
            if not value:
                append("[]")
                return
            inner = indent + "  "
            separator = "[" + inner
            for item in value:
                append(separator)
                encode(item, inner)
                separator = "," + inner
            append(indent + "]")
        else:
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode(value, indent)
    return "".join(out)


def _fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


PRIVATE_FILE_MODE = 0o600
PASSAGE_MODE = 0o711


def make_state_directory(directory: Path) -> None:
    """`directory` exists; made 0711 when it is made here."""
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, PASSAGE_MODE)


def _temp_file(path: Path) -> tuple[int, str]:
    """A new temp file (0600, whatever the umask) beside `path` whose name says which process
    writes it; renamed over `path`, it keeps that mode."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                suffix=".tmp")
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd, name


def _write_file_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new content, never a mix."""
    fd, temp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class LocalStateBackend:
    """State in a JSON file on this machine."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_file = LockFile(self.lock_path, self.path)
        self._encoded: dict[str, tuple[ResourceState, str]] = {}
        self._swept = False

    def __repr__(self) -> str:
        return f"LocalStateBackend({str(self.path)!r})"

    # -- state ------------------------------------------------------------------------------------

    def read(self) -> State:
        """The state in the file; a new empty state (not written yet) when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as error:
            raise StateError(f"cannot read the state {self.path}: {error.strerror}") from error
        try:
            raw = json.loads(data)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise StateError(
                f"the state {self.path} is not valid JSON ({error}). The state before the last "
                f"write is kept in {self.backup_path}: inspect both, and restore the backup by "
                "copying it over the state file if it is the one to keep.") from None
        try:
            return State.from_dict(raw)
        except StateError as error:
            raise StateError(f"{self.path}: {error}") from None

    def exists(self) -> bool:
        """Whether the state file exists (a state was written)."""
        return self.path.exists()

    def stamp(self) -> tuple:
        """A cheap key that changes whenever the state is written: the file's inode, size and
        modification time (one `stat`; a write replaces the file, so its inode changes)."""
        try:
            info = os.stat(self.path)
        except OSError:
            return ("local", str(self.path), None)
        return ("local", str(self.path), info.st_ino, info.st_size, info.st_mtime_ns)

    def write(self, state: State) -> None:
        """Bump `state.serial` and replace the file with `state`, keeping the old file as the backup.

        Order: new content to a temp file in the same directory and fsync it; copy the current file
        to the backup (atomically as well); rename the temp file over the state; fsync the directory.
        A crash at any point leaves a complete state file. When the write fails, the serial is put
        back so the in-memory state keeps matching the file.
        """
        state.serial += 1
        try:
            data = self._encode(state)
            make_state_directory(self.path.parent)
            if not self._swept:
                self.remove_stale_temp_files()
                self._swept = True
            fd, temp = _temp_file(self.path)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                self._keep_backup()
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            _fsync_directory(self.path.parent)
        except BaseException:
            state.serial -= 1
            raise

    def _encode(self, state: State) -> bytes:
        """The same bytes as pretty_json(state.to_dict()), re-encoding only changed resources.

        During apply the state is written after every resource, so encoding all of it each time
        would make an apply of N resources quadratic. Each resource's text is kept with the
        object it came from; a resource is re-encoded only when a new object replaced it (the
        writer records new ResourceState objects and never edits one in place).
        """
        encoded: dict[str, tuple[ResourceState, str]] = {}
        parts = []
        for resource in state:
            hit = self._encoded.get(resource.address)
            if hit is not None and hit[0] is resource:
                text = hit[1]
            else:
                text = pretty_json(resource.to_dict(), RESOURCE_INDENT)
            encoded[resource.address] = (resource, text)
            parts.append(text)
        self._encoded = encoded
        header = pretty_json({"version": state.version, "serial": state.serial,
                              "lineage": state.lineage, "resources": []})
        if parts:
            header = header[:-len("[]\n}")] + "[" + RESOURCE_INDENT + ("," + RESOURCE_INDENT).join(
                parts) + "\n  ]\n}"
        return (header + "\n").encode("utf-8")

    def remove_stale_temp_files(self) -> list[Path]:
        """Remove the temp files of the state and its backup that a killed writer left; returns
        them. A temp file's name carries its writer's pid; the files of processes still running
        stay (names without a pid come from an older flowplan, which held the lock we hold now).
        """
        pattern = re.compile(
            re.escape(f".{self.path.name}.") + r"(?:backup\.)?(?:(\d+)\.)?[^.]+\.tmp\Z")
        removed = []
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return removed
        for name in names:
            match = pattern.match(name)
            if match is None:
                continue
            owner = match.group(1)
            if owner is not None and process_gone(int(owner)) is None:
                continue
            with contextlib.suppress(OSError):
                os.unlink(self.path.parent / name)
                removed.append(self.path.parent / name)
        return removed

    def _keep_backup(self) -> None:
        try:
            current = self.path.read_bytes()
        except FileNotFoundError:
            return  # first write: nothing to keep
        _write_file_atomically(self.backup_path, current)

    # -- lock -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, on_event: EventSink = ignore) -> Iterator[LockInfo]:
        """Hold the state lock for `operation`; fails at once with StateLockedError when it is held.

        A lock left by a process of this host that no longer runs is taken over, and
        `on_event` hears of it (StateLockTakenOver). The lock is released when the block exits,
        also on an exception. See flowplan.state.lock for how.
        """
        info = this_process(operation, str(uuid.uuid4()),
                            datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            str(self.path))
        held = self._lock_file.acquire(info)
        try:
            if held.taken_over is not None:
                old = held.taken_over
                on_event(StateLockTakenOver(str(self.path), old.holder, old.operation,
                                            old.created, old.id, held.reason))
            yield info
        finally:
            self._lock_file.release(held)

    def lock_info(self) -> LockInfo | None:
        """Who holds the lock now (or held it and left it behind), or None when nobody does."""
        return self._lock_file.read()

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock, only when `lock_id` is the id of the lock held now."""
        self._lock_file.force_remove(lock_id)
