"""Step output on its way to the store: `StepLog` per step, `RunLogWriter` per run.

`StepLog` takes the bytes a step's process prints (or text the executor itself says), cuts them
into lines (a line without its newline waits for the rest; an endless one is cut at
`LogLimits.max_line_bytes`), decodes them leniently (invalid UTF-8 becomes U+FFFD, NUL too), masks
sensitive values, numbers them, applies the per-step cap (keeping the first and the last part of
a log past it, with a line saying how much was left out between), and hands one chunk per read
to the writer and to the event sink.

`RunLogWriter` stores chunks in batches every `log_flush_interval` seconds, instead of one
transaction per line, from one background thread that serves every open writer of the process
(`_Flusher`): a driver of a hundred runs or a worker running tasks of many has one such thread,
not a thread per run woken ten times a second each. When a step finishes, the executor commits the
step's remaining chunks together with the finish (`RunLogWriter.commit`), so the log of a finished
step is complete in the store before the next step starts. Writes are serialised, so chunk ids
grow in the order lines were printed, which `logs --follow` relies on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowplan.executor.settings import LogLimits

LineSink = Callable[[str, int, float, tuple[str, ...]], None]   # stream, first_seq, at, lines
SYSTEM = "system"
OMISSION_RESERVE = 100       # bytes of the head's share kept for the omission line


class RunLogWriter:
    """Batches log chunks and process ids of one run into the store."""

    def __init__(self, store: Any, flush_interval: float = 0.1) -> None:
        self._store = store
        self.interval = flush_interval
        self._pending: list[dict[str, Any]] = []
        self._pids: list[tuple[int, Mapping[str, Any]]] = []
        self._lock = threading.Lock()          # guards the pending lists
        self._write_lock = threading.Lock()    # one write at a time, in order
        self._failure: BaseException | None = None
        _FLUSHER.add(self)

    def add(self, chunk: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(chunk)

    def note_pid(self, step_run_id: int, pid: int, start_time: int | None = None,
                 boot_id: str | None = None) -> None:
        """Remember a step's process group (and which process its leader is: start time and
        boot, flowplan.processes), stored with the next batch."""
        with self._lock:
            self._pids.append((step_run_id, {"pid": pid, "pid_start_time": start_time,
                                             "boot_id": boot_id}))

    def commit(self, *, steps: Sequence[tuple[int, Mapping[str, Any]]] = (),
               tasks: Sequence[tuple[int, Mapping[str, Any]]] = ()) -> None:
        """Store everything pending and these transitions, in one transaction."""
        with self._write_lock:
            chunks, pids = self._take()
            try:
                self._store.record(chunks=chunks, steps=[*pids, *steps], tasks=tasks)
            except BaseException:
                self._give_back(chunks, pids)
                raise

    def flush(self) -> None:
        self.commit()

    def close(self) -> None:
        """Stop the batches and store what is left."""
        _FLUSHER.remove(self)
        self.flush()

    def _take(self) -> tuple[list[dict[str, Any]], list[tuple[int, Mapping[str, Any]]]]:
        with self._lock:
            chunks, self._pending = self._pending, []
            pids, self._pids = self._pids, []
        return chunks, pids

    def _give_back(self, chunks: list, pids: list) -> None:
        with self._lock:
            self._pending[:0] = chunks
            self._pids[:0] = pids

    def batch(self) -> None:
        """Store what is pending, if anything (the flusher's call)."""
        with self._write_lock:
            chunks, pids = self._take()
            if not chunks and not pids:
                return
            try:
                self._store.record(chunks=chunks, steps=pids)
            except Exception as exc:  # store busy: keep the lines, try again next time
                self._failure = exc
                self._give_back(chunks, pids)


class _Flusher:
    """The one thread of a process that stores the open writers' batches, each writer every
    its own `interval`; started with the first writer, asleep while none is open."""

    def __init__(self) -> None:
        self._due: dict[RunLogWriter, float] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, writer: RunLogWriter) -> None:
        with self._changed:
            self._due[writer] = time.monotonic() + writer.interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="flowplan-log-writer",
                                                daemon=True)
                self._thread.start()
            self._changed.notify()

    def remove(self, writer: RunLogWriter) -> None:
        with self._changed:
            self._due.pop(writer, None)

    def _loop(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                while not self._due or min(self._due.values()) > now:
                    self._changed.wait(min(self._due.values()) - now if self._due else None)
                    now = time.monotonic()
                due = [writer for writer, at in self._due.items() if at <= now]
                for writer in due:
                    self._due[writer] = now + writer.interval
            for writer in due:
                writer.batch()

    def after_fork(self) -> None:
        """In a forked child: no thread runs there, and the parent's writers are not ours."""
        self._due, self._changed, self._thread = {}, threading.Condition(), None


_FLUSHER = _Flusher()
os.register_at_fork(after_in_child=_FLUSHER.after_fork)


class StepLog:
    """The log of one step run: lines in, numbered masked chunks out, capped.

    Past the cap the log keeps its first part and its last part, where errors are: once the
    head (the cap less the tail's share) is full, lines wait in a ring of raw chunks holding at
    most `LogLimits.tail_lines` lines and `tail_bytes` bytes, the oldest pushed out and counted.
    When the process ends (`end`) or the executor writes a line (`say`), one system line says
    how much was left out (`... 1234567 bytes (12345 lines) left out ...`) and the ring is
    stored after it. Memory stays bounded by the tail's share, however much a step prints.
    """

    def __init__(self, writer: RunLogWriter | None, run_id: int, step_run_id: int,
                 mask: Callable[[str], str] | None, limits: LogLimits,
                 on_lines: LineSink | None = None) -> None:
        self._writer = writer
        self._run_id = run_id
        self._step_run_id = step_run_id
        self._mask = mask
        self._limits = limits
        self._on_lines = on_lines
        self._partial: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.seq = 0                 # lines stored so far (the last stored line's number)
        self.printed_lines = 0       # lines the step printed, stored or not
        self.printed_bytes = 0
        self.dropped_lines = 0       # lines left out, counted but not stored
        self._stored_bytes = 0
        self.truncated = False       # the head is full: lines wait in the tail
        # the tail's share of the cap, and the head's: the rest less the omission line
        self._tail_max_lines = max(min(limits.tail_lines, limits.max_lines // 2), 1)
        self._tail_max_bytes = max(min(limits.tail_bytes, limits.max_bytes // 2), 1)
        self._head_lines = limits.max_lines - self._tail_max_lines - 1
        self._head_bytes = limits.max_bytes - self._tail_max_bytes - OMISSION_RESERVE
        self._tail: deque[list[Any]] = deque()   # [stream, at, raw lines joined by \n, count]
        self._tail_lines = 0
        self._tail_bytes = 0
        self._left_out_lines = 0     # pushed out of the tail since the last omission line
        self._left_out_bytes = 0

    def resume(self, printed_lines: int, printed_bytes: int, dropped_lines: int) -> None:
        """Continue the numbering of a step run that already has stored lines (a waiting step
        continued by another process)."""
        self.printed_lines, self.printed_bytes = printed_lines, printed_bytes
        self.dropped_lines = dropped_lines
        self.truncated = dropped_lines > 0
        self.seq = printed_lines - dropped_lines + (1 if self.truncated else 0)

    # -- input ----------------------------------------------------------------------------------

    def feed(self, stream: str, data: bytes, at: float) -> None:
        """Bytes a process printed on `stream`; complete lines are logged now."""
        buffer = self._partial.pop(stream, b"") + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            if len(buffer) > self._limits.max_line_bytes:
                self._lines(stream, buffer, at)
            else:
                self._partial[stream] = buffer
            return
        rest = buffer[cut + 1:]
        if len(rest) > self._limits.max_line_bytes:
            self._lines(stream, buffer, at)
            return
        if rest:
            self._partial[stream] = rest
        self._lines(stream, buffer[:cut], at)

    def end(self, at: float) -> None:
        """The process is done: log the last lines that had no newline, and the tail."""
        for stream, rest in list(self._partial.items()):
            if rest:
                self._lines(stream, rest, at)
        self._partial.clear()
        with self._lock:
            self._release_tail(at)

    def say(self, text: str, at: float, stream: str = SYSTEM) -> None:
        """A line (or lines) the executor itself writes into the step's log."""
        self._lines(stream, text.encode("utf-8", "replace"), at)
        with self._lock:
            self._release_tail(at)

    # -- counting, cap, output ------------------------------------------------------------------

    def _lines(self, stream: str, raw: bytes, at: float) -> None:
        with self._lock:
            self.printed_bytes += len(raw) + 1
            if self.truncated:
                blob, count = self._blob(raw)
                self.printed_lines += count
                self._hold(stream, at, blob, count)
                return
            text, count, lines = self._text(raw)
            room_lines = self._head_lines - self.seq
            room_bytes = self._head_bytes - self._stored_bytes
            if count <= room_lines and len(text) + 1 <= room_bytes:
                self.printed_lines += count
                self._emit(stream, count, text, at, lines)
                return
            # the head fills up here: what fits goes to it, the rest to the tail
            self.truncated = True
            pieces = self._pieces(raw)
            self.printed_lines += len(pieces)
            kept = size = 0
            for piece in pieces:
                if kept >= room_lines or size + len(piece) + 1 > room_bytes:
                    break
                kept += 1
                size += len(piece) + 1
            if kept:
                self._emit_raw(stream, b"\n".join(pieces[:kept]), at)
            if kept < len(pieces):
                self._hold(stream, at, b"\n".join(pieces[kept:]), len(pieces) - kept)

    def _text(self, raw: bytes) -> tuple[str, int, list[str] | None]:
        """`raw` decoded and masked, its line count, and its lines when they had to be split."""
        text = self._decode(raw)
        count = text.count("\n") + 1          # splitting into lines only when needed
        lines: list[str] | None = None
        limit = self._limits.max_line_bytes
        if len(raw) > limit:
            lines = text.split("\n")
            if any(len(line) > limit for line in lines):
                lines = [line[i:i + limit] if line else line
                         for line in lines for i in range(0, max(len(line), 1), limit)]
                text, count = "\n".join(lines), len(lines)
        return text, count, lines

    def _decode(self, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace")
        if "\0" in text:
            text = text.replace("\0", "\ufffd")
        if self._mask is not None:
            text = self._mask(text)
        return text

    def _pieces(self, raw: bytes) -> list[bytes]:
        """The lines of `raw`, a line longer than `max_line_bytes` cut into several."""
        limit = self._limits.max_line_bytes
        lines = raw.split(b"\n")
        if len(raw) <= limit or all(len(line) <= limit for line in lines):
            return lines
        return [piece for line in lines for piece in _cut_line(line, limit)]

    def _blob(self, raw: bytes) -> tuple[bytes, int]:
        """`raw` with long lines cut, and its line count, splitting only when it must."""
        if len(raw) <= self._limits.max_line_bytes:
            return raw, raw.count(b"\n") + 1
        pieces = self._pieces(raw)
        return b"\n".join(pieces), len(pieces)

    def _hold(self, stream: str, at: float, blob: bytes, count: int) -> None:
        """Put lines in the tail, pushing out (and counting) the oldest past its share."""
        self._tail.append([stream, at, blob, count])
        self._tail_lines += count
        self._tail_bytes += len(blob) + 1
        while self._tail_lines > self._tail_max_lines or self._tail_bytes > self._tail_max_bytes:
            oldest = self._tail[0]
            cut = _cut_point(oldest[2], self._tail_lines - self._tail_max_lines,
                             self._tail_bytes - self._tail_max_bytes)
            if cut is None:
                self._tail.popleft()
                self._leave_out(oldest[3], len(oldest[2]) + 1)
                continue
            lines = oldest[2].count(b"\n", 0, cut)
            oldest[2] = oldest[2][cut:]
            oldest[3] -= lines
            self._leave_out(lines, cut)

    def _leave_out(self, lines: int, size: int) -> None:
        self._tail_lines -= lines
        self._tail_bytes -= size
        self._left_out_lines += lines
        self._left_out_bytes += size
        self.dropped_lines += lines

    def _release_tail(self, at: float) -> None:
        """Store the omission line (if lines were left out) and the tail after it."""
        if self._left_out_lines:
            lines = self._left_out_lines
            notice = (f"... {self._left_out_bytes} bytes ({lines} line{'s' if lines != 1 else ''}"
                      ") left out ...")
            self._emit(SYSTEM, 1, notice, at, [notice])
            self._left_out_lines = self._left_out_bytes = 0
        while self._tail:
            stream, held_at, blob, _count = self._tail.popleft()
            self._emit_raw(stream, blob, held_at)
        self._tail_lines = self._tail_bytes = 0

    def _emit_raw(self, stream: str, raw: bytes, at: float) -> None:
        text = self._decode(raw)
        self._emit(stream, text.count("\n") + 1, text, at, None)

    def _emit(self, stream: str, count: int, text: str, at: float,
              lines: list[str] | None) -> None:
        first = self.seq + 1
        self.seq += count
        self._stored_bytes += len(text) + 1
        if self._writer is not None:
            self._writer.add({"run_id": self._run_id, "step_run_id": self._step_run_id,
                              "first_seq": first, "line_count": count, "at": at,
                              "stream": stream, "text": text})
        if self._on_lines is not None:
            self._on_lines(stream, first, at,
                           tuple(lines if lines is not None else text.split("\n")))

    def counters(self) -> dict[str, int]:
        """The step run fields that describe this log."""
        return {"log_lines": self.printed_lines, "log_bytes": self.printed_bytes,
                "log_dropped": self.dropped_lines}


def _cut_line(line: bytes, limit: int) -> list[bytes]:
    """`line` in pieces of at most `limit` bytes, cut between UTF-8 characters where it can."""
    pieces = []
    while len(line) > limit:
        cut = limit
        while cut > limit - 3 and line[cut] & 0xC0 == 0x80:   # inside a character
            cut -= 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def _cut_point(blob: bytes, lines: int, size: int) -> int | None:
    """Where to cut the front off `blob` (just after a newline) to drop at least `lines` lines
    and `size` bytes (a line's newline counted); None when the whole of it must go."""
    cut = 0
    if lines > 0:
        rest = blob.split(b"\n", lines)
        if len(rest) <= lines:
            return None
        cut = len(blob) - len(rest[-1])
    if size > cut:
        newline = blob.find(b"\n", size - 1)
        if newline < 0:
            return None
        cut = newline + 1
    return cut
