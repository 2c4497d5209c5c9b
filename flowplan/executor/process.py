"""Running one process for a step: its own process group, output read as it comes, a deadline,
cancellation, and SIGTERM then SIGKILL after a grace period.

`run_process` starts the process as the leader of a new process group (so it and every child can
be signalled at once), reads stdout and stderr without threads through a selector and hands the
bytes to `on_output`; the process's exit is watched through a pidfd in the same selector.
When the deadline passes or `cancel` is set it sends SIGTERM to the group, and SIGKILL `grace`
seconds later if anything is still alive. When the process exits but a
child it left behind keeps the pipes open, reading stops `DRAIN_AFTER_EXIT` seconds later.
A process that writes line by line would wake the reader once per line; after `TRICKLE_READS`
small reads in a row the reader pauses `COALESCE_SECONDS` before each read, so lines arrive in
batches (their timestamps are then up to 2 ms late).

What the output means (lines, masking, storing) is left to flowplan.executor.step_process.logs; what
the exit code means to the step type.

With `user` (a flowplan.executor.step_process.step_user.StepUser: `run_as`), the process runs as
that user, its group and no supplementary groups; without it, as the user of the step this thread
runs (`steps_run_as`), else as flowplan's own. The change of user goes through util-linux's
`setpriv` (`--reuid --regid --clear-groups`, real, effective and saved ids alike, no capabilities
left), which keeps CPython's vfork: passing `subprocess` a `user`, `group` or `extra_groups` makes
it fork instead, ~2.5x the per-step cost of setpriv in bench/step_overhead.py. Without setpriv, that
is the fallback. A program setpriv cannot start ends with exit code 127 and setpriv's message on
stderr, where `subprocess` would raise OSError.

A new process group, not a new session: `start_new_session` makes CPython fork instead of vfork,
which costs ~3 ms per step in a process of flowplan's size; `process_group=0` keeps vfork (~1.2 ms).
The group still leaves the terminal's Ctrl-C to flowplan, which then stops the steps.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowplan.executor.step_process.step_user import StepUser

READ_SIZE = 65536
SMALL_READ = 4096          # a read this small, many times in a row, means a line-by-line writer
TRICKLE_READS = 32
COALESCE_SECONDS = 0.002   # then wait this long before reading again: fewer, fuller reads
POLL_SECONDS = 0.2
DRAIN_AFTER_EXIT = 1.0

SETPRIV_PATHS = ("/usr/bin/setpriv", "/bin/setpriv")

_this_step = threading.local()     # .user: whom the step this thread runs runs as


@contextmanager
def steps_run_as(user: StepUser | None) -> Iterator[None]:
    """While in the block, this thread's run_process calls run as `user` unless told otherwise:
    a step type that forgets to pass `user=context.user` still runs nothing as root."""
    previous = getattr(_this_step, "user", None)
    _this_step.user = user
    try:
        yield
    finally:
        _this_step.user = previous


@lru_cache(maxsize=1)
def setpriv_path() -> str | None:
    return next((path for path in SETPRIV_PATHS if os.access(path, os.X_OK)), None)


def as_user(argv: Sequence[str], user: StepUser) -> tuple[list[str], dict[str, Any]]:
    """The argv and Popen arguments that run `argv` as `user`, with no supplementary groups."""
    setpriv = setpriv_path()
    if setpriv is not None:
        return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--",
                *argv], {}
    return list(argv), {"user": user.uid, "group": user.gid, "extra_groups": []}


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None            # None when a signal ended it
    signal: int | None
    timed_out: bool
    canceled: bool
    killed: bool                     # it needed SIGKILL
    pid: int


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a process group; False when it is gone (or not ours)."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def run_process(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                on_output: Callable[[str, bytes, float], None],
                deadline: float | None = None, cancel: threading.Event | None = None,
                grace: float = 10.0, on_start: Callable[[int], None] | None = None,
                user: StepUser | None = None) -> ProcessResult:
    """Run `argv` to completion (or until stopped); `deadline` is a time.monotonic() value."""
    user = user if user is not None else getattr(_this_step, "user", None)
    identity: dict[str, Any] = {}
    if user is not None:
        argv, identity = as_user(argv, user)
    process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               process_group=0, close_fds=True, bufsize=0, **identity)
    pgid = process.pid
    if on_start is not None:
        on_start(pgid)
    selector = selectors.DefaultSelector()
    streams = {process.stdout.fileno(): "stdout", process.stderr.fileno(): "stderr"}
    for fd, name in streams.items():
        selector.register(fd, selectors.EVENT_READ, name)
    exit_fd = _pidfd(process.pid)
    if exit_fd is not None:
        selector.register(exit_fd, selectors.EVENT_READ, None)
    timed_out = canceled = killed = False
    trickle = 0                        # consecutive small reads
    kill_at: float | None = None
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            wait = POLL_SECONDS
            if deadline is not None and kill_at is None:
                wait = min(wait, max(deadline - now, 0.0))
            if kill_at is not None:
                wait = min(wait, max(kill_at - now, 0.0))
            if streams or exit_fd is not None:
                if trickle > TRICKLE_READS:
                    time.sleep(COALESCE_SECONDS)   # let a chatty writer fill the pipe a bit
                ready = selector.select(wait)
                at = time.time()
                got = 0
                for key, _mask in ready:
                    if key.data is None:          # the pidfd: the process exited
                        selector.unregister(exit_fd)
                        os.close(exit_fd)
                        exit_fd = None
                        continue
                    data = os.read(key.fd, READ_SIZE)
                    if data:
                        got += len(data)
                        on_output(key.data, data, at)
                    else:
                        selector.unregister(key.fd)
                        del streams[key.fd]
                trickle = trickle + 1 if 0 < got < SMALL_READ else 0
            else:
                try:
                    process.wait(wait)
                except subprocess.TimeoutExpired:
                    pass
            if process.poll() is not None:
                if not streams:
                    break
                now = time.monotonic()
                if exited_at is None:
                    exited_at = now
                elif now - exited_at > DRAIN_AFTER_EXIT:
                    break   # a child left behind holds the pipes open
            if kill_at is None:
                stop_for_time = deadline is not None and time.monotonic() >= deadline
                stop_for_cancel = cancel is not None and cancel.is_set()
                if stop_for_time or stop_for_cancel:
                    timed_out, canceled = stop_for_time and not stop_for_cancel, stop_for_cancel
                    kill_group(pgid, signal.SIGTERM)
                    kill_at = time.monotonic() + grace
            elif not killed and time.monotonic() >= kill_at:
                kill_group(pgid, signal.SIGKILL)
                killed = True
    finally:
        selector.close()
        if exit_fd is not None:
            os.close(exit_fd)
        process.stdout.close()
        process.stderr.close()
        if process.poll() is None:   # only when reading failed: do not leave it running
            kill_group(pgid, signal.SIGKILL)
        process.wait()
    code = process.returncode
    return ProcessResult(exit_code=code if code >= 0 else None,
                         signal=-code if code < 0 else None, timed_out=timed_out,
                         canceled=canceled, killed=killed, pid=pgid)
