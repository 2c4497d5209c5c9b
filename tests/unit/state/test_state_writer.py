"""The group-commit writer: every change durable before record() returns, in far fewer writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from flowplan.state import LocalStateBackend, ResourceState, State, StateWriter

REPO_ROOT = Path(__file__).resolve().parents[3]


def resource(address: str, **attributes) -> ResourceState:
    type_, name = address.split(".", 1)
    return ResourceState(address, type_, name, "flowplan", dict(attributes), [])


class SlowCountingBackend(LocalStateBackend):
    """The real local backend, slowed down and counting its writes."""

    def __init__(self, path: Path, delay: float = 0.02, fail_on_write: int | None = None):
        super().__init__(path)
        self.delay = delay
        self.fail_on_write = fail_on_write
        self.attempts = 0
        self.concurrent = 0
        self.max_concurrent = 0
        self._guard = threading.Lock()

    def write(self, state: State) -> None:
        with self._guard:
            self.attempts += 1
            attempt = self.attempts
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            time.sleep(self.delay)
            if attempt == self.fail_on_write:
                raise OSError(28, "No space left on device")
            super().write(state)
        finally:
            with self._guard:
                self.concurrent -= 1


def addresses_on_disk(path: Path) -> set[str]:
    return {r["address"] for r in json.loads(path.read_text())["resources"]}


def run_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(index: int):
        try:
            target(index)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_writer_coalesces_concurrent_records_into_far_fewer_writes(tmp_path):
    backend = SlowCountingBackend(tmp_path / "state.json")
    writer = StateWriter(backend, backend.read())
    threads, per_thread = 16, 20
    not_durable: list[str] = []

    def complete_resources(index: int):
        for i in range(per_thread):
            address = f"pipeline.t{index}_{i}"
            writer.record(resource(address, n=i))
            if address not in addresses_on_disk(backend.path):
                not_durable.append(address)

    assert run_threads(threads, complete_resources) == []
    records = threads * per_thread
    assert not_durable == []
    assert backend.max_concurrent == 1
    assert backend.attempts == writer.writes
    assert writer.writes <= records // 4, f"{writer.writes} writes for {records} records"
    on_disk = backend.read()
    assert len(on_disk) == records
    assert on_disk.serial == writer.writes


def test_forget_removes_the_resource_from_the_file(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    writer = StateWriter(backend, backend.read())
    writer.record(resource("webhook.push"))
    writer.record(resource("schedule.nightly"))
    writer.forget("webhook.push")
    assert addresses_on_disk(backend.path) == {"schedule.nightly"}
    assert writer.state.addresses() == ["schedule.nightly"]


def test_record_replaces_a_resource_in_place(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    state = State()
    state.set(resource("a.one", v=1))
    state.set(resource("a.two", v=2))
    writer = StateWriter(backend, state)
    writer.record(resource("a.one", v=11))
    reread = backend.read()
    assert reread.addresses() == ["a.one", "a.two"]
    assert reread.get("a.one").attributes == {"v": 11}


def test_write_error_reaches_every_caller_of_that_write_and_later_writes_recover(tmp_path):
    backend = SlowCountingBackend(tmp_path / "state.json", delay=0.3, fail_on_write=2)
    writer = StateWriter(backend, backend.read())
    first_write_started = threading.Event()

    def first(_):
        first_write_started.set()
        writer.record(resource("a.first"))

    # a.first goes out in write 1; while that write runs, the others queue for write 2, which fails.
    holder = threading.Thread(target=first, args=(0,))
    holder.start()
    first_write_started.wait()
    time.sleep(0.01)
    errors = run_threads(5, lambda i: writer.record(resource(f"a.queued{i}")))
    holder.join()
    assert len(errors) == 5 and all(isinstance(e, OSError) for e in errors)
    assert backend.attempts == 2
    assert addresses_on_disk(backend.path) == {"a.first"}
    writer.record(resource("a.after"))                 # the next write carries everything
    assert addresses_on_disk(backend.path) == {"a.first", "a.after"} | {
        f"a.queued{i}" for i in range(5)}


RECORD_FOREVER = textwrap.dedent("""
    import os, sys, threading
    from flowplan.state import LocalStateBackend, ResourceState, StateWriter
    backend = LocalStateBackend(sys.argv[1])
    writer = StateWriter(backend, backend.read())

    def worker(index):
        i = 0
        while True:
            address = f"pipeline.w{index}_{i}"
            writer.record(ResourceState(address, "pipeline", f"w{index}_{i}", "flowplan",
                                        {"payload": "x" * 200, "i": i}, []))
            os.write(1, (address + "\\n").encode())     # reported durable only after record()
            i += 1

    for index in range(8):
        threading.Thread(target=worker, args=(index,), daemon=True).start()
    threading.Event().wait()
""")


def test_sigkill_during_recording_loses_no_reported_resource(tmp_path):
    path = tmp_path / "state.json"
    child = subprocess.Popen(
        [sys.executable, "-c", RECORD_FOREVER, str(path)], stdout=subprocess.PIPE, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    reported: list[str] = []
    try:
        while len(reported) < 300:
            line = child.stdout.readline()
            assert line, "the recording child exited early"
            reported.append(line.decode().strip())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        # lines already in the pipe were also reported after record() returned
        reported.extend(line.decode().strip() for line in child.stdout.read().splitlines())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    state = LocalStateBackend(path).read()                 # parses: no torn write
    missing = set(reported) - set(state.addresses())
    assert not missing, f"{len(missing)} reported resources missing, e.g. {sorted(missing)[:3]}"
    assert state.serial >= 1
