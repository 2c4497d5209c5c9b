"""Cloud Assistant invocations of the emulator, run as real local processes.

Each instance has a directory of its own under the emulator's root (`<root>/<instance id>`); a
command runs there with `bash -c`, that directory as `HOME`, and its stdout and stderr captured
together as the Cloud Assistant agent captures them. An absolute `WorkingDir` is taken inside the
instance's directory (`/opt/app` is `<root>/<id>/opt/app`), so that a test cannot write outside
it by accident; what a command does with absolute paths of its own is not confined. The process runs
as the emulator's own user, whatever `Username` asks for (which is only recorded).

Output is kept up to OUTPUT_LIMIT bytes; the rest is counted as `Dropped`, as the real service
counts what it discards past 24 KB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT_LIMIT = 24 * 1024


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Record:
    """One instance's part of an invocation."""

    instance_id: str
    status: str = "Pending"              # Pending, Running, Success, Failed, Stopped
    record_status: str = "Pending"       # Pending, Running, Finished, Failed, Stopped
    exit_code: int | None = None
    output: bytearray = field(default_factory=bytearray)
    dropped: int = 0
    error_code: str = ""
    error_info: str = ""
    start_time: str = ""
    finished_time: str = ""
    stop_time: str = ""
    process: subprocess.Popen | None = None
    stop_requested: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def add_output(self, chunk: bytes) -> None:
        room = OUTPUT_LIMIT - len(self.output)
        self.output += chunk[:max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)


@dataclass
class Invocation:
    invoke_id: str
    command_id: str
    content: str
    working_dir: str
    timeout: int
    username: str
    records: dict[str, Record]
    creation_time: str = field(default_factory=_now)

    @property
    def status(self) -> str:
        """The invocation's overall status, from its records."""
        states = {r.status for r in self.records.values()}
        if states & {"Pending", "Running"}:
            return "Running"
        if states == {"Success"}:
            return "Success"
        if states == {"Stopped"}:
            return "Stopped"
        if "Success" in states:
            return "PartialFailed"
        return "Failed"


class Runner:
    """Starts and stops the processes of invocations; thread-safe."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def home(self, instance_id: str) -> Path:
        home = self.root / instance_id
        home.mkdir(parents=True, exist_ok=True)
        return home

    def working_dir(self, instance_id: str, asked: str) -> Path:
        home = self.home(instance_id)
        if not asked:
            return home
        inside = (home / asked.lstrip("/")).resolve()
        if inside != home.resolve() and home.resolve() not in inside.parents:
            inside = home
        inside.mkdir(parents=True, exist_ok=True)
        return inside

    def start(self, invocation: Invocation) -> None:
        for record in invocation.records.values():
            threading.Thread(target=self._run, args=(invocation, record), daemon=True,
                             name=f"emulated {invocation.invoke_id} {record.instance_id}").start()

    def _run(self, invocation: Invocation, record: Record) -> None:
        home = self.home(record.instance_id)
        environment = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                       "LANG": "C.UTF-8", "USER": invocation.username or "root",
                       "LOGNAME": invocation.username or "root"}
        with self._lock:
            if record.stop_requested:
                self._finish(record, "Stopped", "Stopped", None)
                return
            try:
                record.process = subprocess.Popen(
                    ["bash", "-c", invocation.content],
                    cwd=self.working_dir(record.instance_id, invocation.working_dir),
                    env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as error:
                record.error_code = "InstanceNotReady"
                record.error_info = str(error)
                self._finish(record, "Failed", "Failed", None)
                return
            record.status = record.record_status = "Running"
            record.start_time = _now()
        process = record.process
        reader = threading.Thread(target=self._read, args=(record, process), daemon=True)
        reader.start()
        try:
            process.wait(timeout=invocation.timeout)
        except subprocess.TimeoutExpired:
            self._kill(process)
            process.wait()
            reader.join(5)
            record.error_code = "ExecutionTimeout"
            record.error_info = f"the command timed out after {invocation.timeout} seconds"
            self._finish(record, "Failed", "Failed", process.returncode)
            return
        reader.join(5)
        if record.stop_requested:
            self._finish(record, "Stopped", "Stopped", process.returncode)
        elif process.returncode == 0:
            self._finish(record, "Success", "Finished", 0)
        else:
            if process.returncode > 0:
                record.error_code = "ExitCodeNonzero"
                record.error_info = f"the command exited with code {process.returncode}"
            else:
                record.error_code = "ExecutionInterrupted"
                record.error_info = f"the command was killed by signal {-process.returncode}"
            self._finish(record, "Failed", "Finished", process.returncode)

    @staticmethod
    def _read(record: Record, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for chunk in iter(lambda: process.stdout.read1(4096), b""):
            record.add_output(chunk)

    def stop(self, record: Record) -> None:
        with self._lock:
            record.stop_requested = True
            if record.process is not None and record.process.poll() is None:
                record.record_status = "Stopping"
                record.status = "Stopping"
                self._kill(record.process)
            elif record.status == "Pending":
                self._finish(record, "Stopped", "Stopped", None)

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @staticmethod
    def _finish(record: Record, status: str, record_status: str, exit_code: int | None) -> None:
        record.status = status
        record.record_status = record_status
        record.exit_code = exit_code
        record.finished_time = _now()
        if status == "Stopped":
            record.stop_time = record.finished_time
        record.done.set()

    def stop_all(self, invocations: list[Invocation]) -> None:
        for invocation in invocations:
            for record in invocation.records.values():
                if not record.done.is_set():
                    self.stop(record)
