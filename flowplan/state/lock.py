"""The state lock: a lock file held with an OS lock, naming its holder, taken over when it dies.

Holds `LockFile` (acquire, release, read, force-remove), `LockInfo`, `StateLockedError`, and the
check of whether the holder still runs (`holder_gone`, through flowplan.processes).

How the lock works, like Terraform's local backend:

- `<state>.lock` is opened (created if missing) and held with `flock(LOCK_EX | LOCK_NB)`. The OS
  lock is the mutual exclusion: exactly one open file holds it, also between threads of one
  process, and the kernel drops it when its process dies, however it dies.
- The holder writes its `LockInfo` into the file (who, what, since when, and the pid, process
  start time and boot id that identify its process), and unlinks the file before it lets go.
- A file whose OS lock is free but which still names a holder was left by a holder that did not
  release it. When that holder ran on this host and is gone (no such pid, a pid reused by a
  process started at another time, an exited zombie, or a reboot since) the lock is taken over,
  and the caller hears about it. A holder still running (e.g. an older flowplan that did not use
  the OS lock) or one on another host keeps the lock: only `flowplan force-unlock ID` removes it.
- Where the filesystem offers no flock, the file alone is the lock, created with O_EXCL, and a
  lock left behind needs force-unlock.

It leaves the state file itself to flowplan.state.local.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from flowplan.processes import boot_id, process_gone, process_start_time
from flowplan.state.model import StateError


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the state lock, for what, and since when."""

    id: str              # uuid4; what `flowplan force-unlock ID` takes
    holder: str          # "user@hostname pid N"
    operation: str       # e.g. "apply", "plan", "destroy"
    created: str         # ISO-8601 UTC
    path: str            # the state file the lock guards
    host: str | None = None          # hostname of the holder
    pid: int | None = None           # the holder's process id on `host`
    start_time: int | None = None    # its start, in clock ticks after boot (/proc/PID/stat field 22)
    boot_id: str | None = None       # the boot of `host` it ran in (/proc/sys/kernel/random/boot_id)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "LockInfo":
        def optional_int(value) -> int | None:
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def optional_str(value) -> str | None:
            return value if isinstance(value, str) else None

        return cls(str(raw["id"]), str(raw["holder"]), str(raw["operation"]), str(raw["created"]),
                   str(raw["path"]), optional_str(raw.get("host")), optional_int(raw.get("pid")),
                   optional_int(raw.get("start_time")), optional_str(raw.get("boot_id")))


class StateLockedError(StateError):
    """Another flowplan (process or thread) holds the state lock."""

    def __init__(self, info: LockInfo, waited: float | None = None):
        self.info = info
        self.waited = waited
        after = f" (still, after waiting {round(waited, 1):g} s)" if waited is not None else ""
        super().__init__(
            f"the state {info.path} is locked by another flowplan{after}\n"
            f"  holder:    {info.holder}\n"
            f"  operation: {info.operation}\n"
            f"  created:   {info.created}\n"
            f"  lock id:   {info.id}\n"
            + ("Wait for it to finish (--lock-timeout DURATION waits for it). " if waited is None
               else "Wait for it to finish, or wait longer with --lock-timeout. ")
            + "If that process is gone (it crashed or was killed), remove the "
            f"lock with:\n  flowplan force-unlock {info.id}")


# -- who we are, and whether a process still runs ----------------------------------------------

def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def this_process(operation: str, lock_id: str, created: str, path: str) -> LockInfo:
    """LockInfo naming the calling process."""
    host, pid = socket.gethostname(), os.getpid()
    return LockInfo(lock_id, f"{_user()}@{host} pid {pid}", operation, created, path, host, pid,
                    process_start_time(pid), boot_id())


def holder_gone(info: LockInfo) -> str | None:
    """Why the holder of a lock no longer runs, or None when it may (or when it ran on another
    host, or the lock predates the details needed to tell)."""
    if info.pid is None or info.host is None or info.host != socket.gethostname():
        return None
    return process_gone(info.pid, info.start_time, info.boot_id)


# -- the lock file -----------------------------------------------------------------------------

def _read_fd(fd: int) -> bytes:
    chunks, offset = [], 0
    while True:
        chunk = os.pread(fd, 65536, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _parse(data: bytes) -> LockInfo:
    return LockInfo.from_dict(json.loads(data))


@dataclass
class HeldLock:
    """A lock this process holds: its details, its open file, and whose lock it took over."""

    info: LockInfo
    fd: int
    os_locked: bool
    taken_over: LockInfo | None = None
    reason: str = ""                 # why the taken-over holder was judged gone


class LockFile:
    """`<state>.lock`, held with flock while its holder runs, with JSON LockInfo inside."""

    def __init__(self, path: Path, state_path: Path):
        self.path = path
        self.state_path = state_path

    def acquire(self, info: LockInfo) -> HeldLock:
        """Take the lock for `info`, at once, or raise StateLockedError naming the holder."""
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path.parent, 0o711)     # as flowplan.state.local makes it
        for _ in range(100):                  # retried only when the file was replaced under us
            try:
                fd, created = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), True
            except FileExistsError:
                try:
                    fd, created = os.open(self.path, os.O_RDWR), False
                except FileNotFoundError:     # released between the two opens
                    continue
            try:
                held = self._take(fd, created, info)
            except BaseException:
                os.close(fd)
                raise
            if held is not None:
                return held
            os.close(fd)
        raise StateError(f"cannot take the lock {self.path}: it keeps being replaced")

    def _take(self, fd: int, created: bool, info: LockInfo) -> HeldLock | None:
        """Hold `fd`'s lock and write `info`; None when the file was unlinked meanwhile."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os_locked = True
        except BlockingIOError:
            raise StateLockedError(self._holder_while_held()) from None
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            os_locked = False                 # no flock here: the O_EXCL file is the lock
        if not created and not os_locked:
            raise StateLockedError(self._holder_while_held())
        if os_locked and not self._is_current(fd):
            return None                       # unlinked since we opened it: retry
        held = HeldLock(info, fd, os_locked)
        previous = _read_fd(fd)
        if previous.strip():
            try:
                left = _parse(previous)
            except (ValueError, KeyError, TypeError) as error:
                raise StateError(
                    f"the lock file {self.path} is unreadable ({error}). If no flowplan is "
                    "running against this state, delete that file by hand.") from None
            reason = holder_gone(left)
            if reason is None:
                raise StateLockedError(left)  # running without the OS lock, or on another host
            held.taken_over, held.reason = left, reason
        # The file is fsynced, its directory entry not: should the machine crash, a lock left
        # from the boot before is taken over anyway.
        data = (json.dumps(info.to_dict(), indent=2) + "\n").encode("utf-8")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except BaseException:
            if not os_locked:                 # an empty O_EXCL file would block everyone
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            raise
        return held

    def _is_current(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        ours = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (ours.st_dev, ours.st_ino)

    def _holder_while_held(self) -> LockInfo:
        held = self.read()
        if held is None:  # released between our attempt and the read: still not ours
            held = LockInfo("unknown", "unknown (released while checking)", "unknown", "unknown",
                            str(self.state_path))
        return held

    def release(self, held: HeldLock) -> None:
        """Remove the lock file if it is still this lock's, then let the OS lock go.

        Unlinking before unlocking means nobody can take the lock in between and lose it to our
        unlink. After a force-unlock another process may hold a new lock file: that one stays.
        """
        try:
            with contextlib.suppress(StateError, OSError):
                if held.os_locked:
                    ours = self._is_current(held.fd)
                else:
                    current = self.read(wait=False)
                    ours = current is not None and current.id == held.info.id
                if ours:
                    os.unlink(self.path)
        finally:
            os.close(held.fd)

    def read(self, wait: bool = True) -> LockInfo | None:
        """What the lock file says, or None when there is no lock file."""
        # A holder writes its details right after taking the lock: give it a moment.
        deadline = time.monotonic() + (0.5 if wait else 0)
        while True:
            try:
                text = self.path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                return _parse(text)
            except (ValueError, KeyError, TypeError) as error:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"the lock file {self.path} is unreadable ({error}). If no flowplan is "
                        "running against this state, delete that file by hand.") from None
                time.sleep(0.01)

    def force_remove(self, lock_id: str) -> None:
        """Remove the lock file, only when `lock_id` is the id of the lock it holds."""
        held = self.read()
        if held is None:
            raise StateError(f"the state {self.state_path} is not locked: there is no {self.path}")
        if held.id != lock_id:
            raise StateError(f"lock id mismatch: the lock on {self.state_path} has id {held.id} "
                             f"(held by {held.holder} for {held.operation}), not {lock_id}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
