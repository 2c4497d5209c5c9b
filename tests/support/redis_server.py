"""Real Redis servers for tests: Debian's `redis-server` on 127.0.0.1, one process per call.

    with start_redis(tmp_path) as redis:
        redis.url               # redis://127.0.0.1:PORT/0
        redis.stop(); redis.start()     # down and up again on the same port (a broker outage)

No persistence (nothing written to disk), no password; `redis_problem()` says why none can start
here, for a skip reason.

From a shell, one that outlives the command: `python -m tests.support.redis_server --dir DIR`.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from tests.support.ports import free_port

STARTUP_SECONDS = 20.0


def redis_problem() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian package redis-server)"
    return None



@dataclass
class Redis:
    directory: Path
    port: int
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, detached: bool = False) -> None:
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=detached)
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self.log()}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {STARTUP_SECONDS:.0f} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


def launch(directory: Path, detached: bool = False) -> Redis:
    directory.mkdir(parents=True, exist_ok=True)
    server = Redis(directory, free_port())
    server.start(detached)
    return server


@contextmanager
def start_redis(directory: Path) -> Iterator[Redis]:
    server = launch(directory)
    try:
        yield server
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Start a redis-server on 127.0.0.1.")
    parser.add_argument("--dir", required=True, type=Path)
    options = parser.parse_args()
    problem = redis_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    server = launch(options.dir, detached=True)
    print(f"{server.url} (pid {server.process.pid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
