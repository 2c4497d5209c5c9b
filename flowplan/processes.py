"""Processes of this host: whether one recorded earlier is still the same process, and which
operating-system account this one runs as.

A pid alone proves little: pids are reused, and after a reboot every pid names something else.
A process is therefore recorded with its start time (clock ticks after boot, field 22 of
/proc/PID/stat) and the boot it ran in (/proc/sys/kernel/random/boot_id): a live pid whose
process started at another time, or a recorded boot that is not this one, is another process.

Used by the state lock (flowplan.state.lock) for its holder, and by the executor for the process
driving a run and the process groups of its steps. Sending signals is left to the callers.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """A process as recorded: its pid, start time and boot (None where they cannot be read)."""

    pid: int
    start_time: int | None
    boot_id: str | None


@dataclass(frozen=True, slots=True)
class Account:
    """The operating-system account a process runs as (its effective uid)."""

    name: str
    uid: int


def boot_id() -> str | None:
    """This host's boot id (Linux), or None where there is none."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


@functools.cache
def _boot_id_of_this_process() -> str | None:
    return boot_id()          # a process lives in one boot: read once


def _process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks after boot) of `pid` from /proc, or None."""
    try:   # os.open rather than pathlib: called for every step a run starts
        fd = os.open(f"{PROC}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split after the last ")".
    fields = text.rpartition(")")[2].split()
    try:
        return fields[0], int(fields[19])         # fields 3 and 22 of proc(5)
    except (IndexError, ValueError):
        return None


def process_start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks after boot; None without /proc or such a process."""
    stat = _process_stat(pid)
    return stat[1] if stat else None


def identify(pid: int) -> ProcessIdentity:
    """`pid` as it is now, to be recorded (the process should be running, e.g. just started)."""
    return ProcessIdentity(pid, process_start_time(pid), _boot_id_of_this_process())


_THIS: ProcessIdentity | None = None


def this_process() -> ProcessIdentity:
    """This process's identity, read once per pid (reading /proc/self/stat costs more the more
    threads the process has; a server records one for every run it starts)."""
    global _THIS
    known = _THIS
    if known is None or known.pid != os.getpid():      # first call, or a forked child
        known = _THIS = identify(os.getpid())
    return known


def process_gone(pid: int, start_time: int | None = None, boot: str | None = None) -> str | None:
    """Why process `pid` of this host, started `start_time` ticks after boot `boot`, no longer
    runs; None while it may still run.

    With a start time, a live pid whose process started at another time is another process;
    with a boot id, a reboot ends every process. Without /proc (not Linux), only whether the
    pid exists can be told.
    """
    if pid <= 0:
        return None                         # not a process id: nothing can be told
    current_boot = boot_id()
    if boot and current_boot and boot != current_boot:
        return f"process {pid} ran before this machine restarted"
    stat = _process_stat(pid)
    if stat is None:
        if (PROC / "self" / "stat").exists():
            return f"process {pid} is no longer running"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"process {pid} is no longer running"
        except PermissionError:
            return None                     # exists, owned by someone else
        return None
    state, started = stat
    if state in ("Z", "X"):
        return f"process {pid} has exited"
    if start_time is not None and started != start_time:
        return f"process {pid} is no longer running (pid {pid} now belongs to another process)"
    return None


def group_is_still(pgid: int, start_time: int | None, boot: str | None) -> bool:
    """Whether process group `pgid` is still the one whose leader (pid `pgid`) was recorded
    with `start_time` in boot `boot`, so that signalling it reaches what was recorded.

    - another boot: no. A leader recorded without a start time: no when a process `pgid`
      exists (it cannot be told apart from a reused pid).
    - the leader still there (running, or exited and not yet reaped): when it started at the
      recorded time.
    - no process `pgid` any more: its group may live on in the children the leader left; a
      pid number stays taken while a group of that number has members, so in the same boot
      those are the recorded group's (a group of that number made after it ended, by a process
      that then exited itself, is the case this cannot tell, and it needs the number to come
      round again in between).
    """
    if pgid <= 1:
        return False
    current_boot = _boot_id_of_this_process()
    if boot and current_boot and boot != current_boot:
        return False
    stat = _process_stat(pgid)
    if stat is None:
        if not (PROC / "self" / "stat").exists():
            return start_time is None       # no /proc: nothing to compare, as before
        return bool(boot) and boot == current_boot
    return start_time is not None and stat[1] == start_time


def account() -> Account:
    """The account this process acts as: its effective uid and that uid's name (`uidN` when the
    system has no name for it, as in some containers)."""
    uid = os.geteuid()
    try:
        import pwd

        return Account(pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return Account(f"uid{uid}", uid)
