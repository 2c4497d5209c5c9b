"""The local state backend: one JSON state file, written atomically, guarded by a lock file.

Holds `LocalStateBackend` (read, atomic write with a kept `.backup`, lock, force-unlock), `LockInfo`
and `StateLockedError`. Layout next to the state path, e.g. `.flowplan/state.json`:

    state.json          the current state
    state.json.backup   the state as it was before the last write
    state.json.lock     present while a flowplan process holds the lock: JSON LockInfo

It leaves the meaning of the state to flowplan.state.model and the coalescing of many concurrent
changes into few writes to flowplan.state.writer.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from json.encoder import encode_basestring as _quote
from pathlib import Path
from typing import Any, Iterator

from flowplan.state.model import ResourceState, State, StateError


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the state lock, for what, and since when."""

    id: str              # uuid4; what `flowplan force-unlock ID` takes
    holder: str          # "user@hostname pid N"
    operation: str       # e.g. "apply", "plan", "destroy"
    created: str         # ISO-8601 UTC
    path: str            # the state file the lock guards

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "LockInfo":
        return cls(str(raw["id"]), str(raw["holder"]), str(raw["operation"]), str(raw["created"]),
                   str(raw["path"]))


class StateLockedError(StateError):
    """Another flowplan (process or thread) holds the state lock."""

    def __init__(self, info: LockInfo):
        self.info = info
        super().__init__(
            f"the state {info.path} is locked by another flowplan\n"
            f"  holder:    {info.holder}\n"
            f"  operation: {info.operation}\n"
            f"  created:   {info.created}\n"
            f"  lock id:   {info.id}\n"
            "Wait for it to finish. If that process is gone (it crashed or was killed), remove the "
            f"lock with:\n  flowplan force-unlock {info.id}")


def _holder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


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


def _write_file_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new content, never a mix."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
        self._encoded: dict[str, tuple[ResourceState, str]] = {}

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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                        suffix=".tmp")
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

    def _keep_backup(self) -> None:
        try:
            current = self.path.read_bytes()
        except FileNotFoundError:
            return  # first write: nothing to keep
        _write_file_atomically(self.backup_path, current)

    # -- lock -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        """Hold the state lock for `operation`; fails at once with StateLockedError when it is held.

        The lock is the file `<state>.lock`, created with O_CREAT|O_EXCL, so exactly one process or
        thread gets it. It is released when the block exits, also on an exception.
        """
        info = LockInfo(id=str(uuid.uuid4()), holder=_holder(), operation=operation,
                        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        path=str(self.path))
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = self.lock_info()
            if held is None:  # released between our attempt and the read: still not ours
                held = LockInfo("unknown", "unknown (released while checking)", "unknown", "unknown",
                                str(self.path))
            raise StateLockedError(held) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(info.to_dict(), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            _fsync_directory(self.lock_path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            raise
        try:
            yield info
        finally:
            self._release(info.id)

    def _release(self, lock_id: str) -> None:
        # Remove the lock only while it is still ours: after a force-unlock another process may
        # hold a new one.
        with contextlib.suppress(StateError):
            held = self.lock_info()
            if held is not None and held.id == lock_id:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.lock_path)

    def lock_info(self) -> LockInfo | None:
        """Who holds the lock now, or None when nobody does."""
        # The holder writes its details right after creating the file: give it a moment.
        deadline = time.monotonic() + 0.5
        while True:
            try:
                text = self.lock_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            try:
                return LockInfo.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError) as error:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"the lock file {self.lock_path} is unreadable ({error}). If no flowplan is "
                        "running against this state, delete that file by hand.") from None
                time.sleep(0.01)

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock, only when `lock_id` is the id of the lock held now."""
        held = self.lock_info()
        if held is None:
            raise StateError(f"the state {self.path} is not locked: there is no {self.lock_path}")
        if held.id != lock_id:
            raise StateError(f"lock id mismatch: the lock on {self.path} has id {held.id} "
                             f"(held by {held.holder} for {held.operation}), not {lock_id}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
