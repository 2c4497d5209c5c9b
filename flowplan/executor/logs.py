"""Step output on its way to the store: `StepLog` per step, `RunLogWriter` per run.

`StepLog` takes the bytes a step's process prints (or text the executor itself says), cuts them
into lines (a line without its newline waits for the rest; an endless one is cut at
`LogLimits.max_line_bytes`), decodes them leniently (invalid UTF-8 becomes U+FFFD, NUL too), masks
sensitive values, numbers them, applies the per-step cap, and hands one chunk per read to the
writer and to the event sink.

`RunLogWriter` stores chunks in batches from a background thread, every `log_flush_interval`
seconds, instead of one transaction per line. When a step finishes, the executor commits the
step's remaining chunks together with the finish (`RunLogWriter.commit`), so the log of a finished
step is complete in the store before the next step starts. Writes are serialised, so chunk ids
grow in the order lines were printed, which `logs --follow` relies on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowplan.executor.settings import LogLimits

LineSink = Callable[[str, int, float, tuple[str, ...]], None]   # stream, first_seq, at, lines
SYSTEM = "system"


class RunLogWriter:
    """Batches log chunks and process ids of one run into the store."""

    def __init__(self, store: Any, flush_interval: float = 0.1) -> None:
        self._store = store
        self._interval = flush_interval
        self._pending: list[dict[str, Any]] = []
        self._pids: list[tuple[int, Mapping[str, Any]]] = []
        self._lock = threading.Lock()          # guards the pending lists
        self._write_lock = threading.Lock()    # one write at a time, in order
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="flowplan-log-writer",
                                        daemon=True)
        self._thread.start()

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
        """Stop the thread and store what is left."""
        self._stop.set()
        self._thread.join()
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

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with self._write_lock:
                chunks, pids = self._take()
                if not chunks and not pids:
                    continue
                try:
                    self._store.record(chunks=chunks, steps=pids)
                except Exception as exc:  # store busy: keep the lines, try again next time
                    self._failure = exc
                    self._give_back(chunks, pids)


class StepLog:
    """The log of one step run: lines in, numbered masked chunks out, capped."""

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
        self.dropped_lines = 0
        self._stored_bytes = 0
        self.truncated = False

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
        """The process is done: log the last lines that had no newline."""
        for stream, rest in list(self._partial.items()):
            if rest:
                self._lines(stream, rest, at)
        self._partial.clear()

    def say(self, text: str, at: float, stream: str = SYSTEM) -> None:
        """A line (or lines) the executor itself writes into the step's log."""
        self._lines(stream, text.encode("utf-8", "replace"), at)

    # -- counting, cap, output ------------------------------------------------------------------

    def _lines(self, stream: str, raw: bytes, at: float) -> None:
        text = raw.decode("utf-8", "replace")
        if "\0" in text:
            text = text.replace("\0", "\ufffd")
        if self._mask is not None:
            text = self._mask(text)
        count = text.count("\n") + 1          # splitting into lines only when needed
        lines: list[str] | None = None
        limit = self._limits.max_line_bytes
        if len(raw) > limit:
            lines = text.split("\n")
            if any(len(line) > limit for line in lines):
                lines = [line[i:i + limit] if line else line
                         for line in lines for i in range(0, max(len(line), 1), limit)]
                text, count = "\n".join(lines), len(lines)
        with self._lock:
            self.printed_lines += count
            self.printed_bytes += len(raw) + 1
            if self.truncated:
                self.dropped_lines += count
                return
            limits = self._limits
            room_lines = limits.max_lines - self.seq
            room_bytes = limits.max_bytes - self._stored_bytes
            if count > room_lines or len(text) + 1 > room_bytes:
                lines = lines if lines is not None else text.split("\n")
                kept: list[str] = []
                size = 0
                for line in lines[:max(room_lines - 1, 0)]:
                    if size + len(line) + 1 > room_bytes:
                        break
                    kept.append(line)
                    size += len(line) + 1
                self.dropped_lines += count - len(kept)
                self.truncated = True
                if kept:
                    self._emit(stream, len(kept), "\n".join(kept), at, kept)
                notice = (f"log truncated: this step printed more than "
                          f"{limits.max_lines} lines or {limits.max_bytes} bytes; the rest is "
                          f"counted, not stored")
                self._emit(SYSTEM, 1, notice, at, [notice])
                return
            self._emit(stream, count, text, at, lines)

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
