"""The git provider's tests: real repositories made with the git CLI, and a small HTTP server on
a free loopback port standing in for `flowplan serve`'s /hooks/NAME: it records each delivery
(headers and JSON body) and answers 202 with a run's name."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def git(*args: str, cwd: Path | None = None, check: bool = True
        ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV, HOME=str(Path(cwd or ".").resolve()))
    return subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          check=check, timeout=60)


def bare_repository(path: Path) -> Path:
    git("init", "-q", "--bare", "--initial-branch=main", str(path))
    return path


def working_tree(path: Path) -> Path:
    git("init", "-q", "--initial-branch=main", str(path))
    return path


def push_a_commit(bare: Path, scratch: Path, ref: str = "main", message: str = "change"
                  ) -> subprocess.CompletedProcess:
    """Clone `bare` into `scratch`, commit a file and push it; the push's result (git prints
    the hook's lines on stderr as `remote: ...`)."""
    if not scratch.exists():
        git("clone", "-q", str(bare), str(scratch))
        git("checkout", "-q", "-b", "main", cwd=scratch, check=False)
    (scratch / "file.txt").write_text(message)
    git("add", "file.txt", cwd=scratch)
    git("commit", "-q", "-m", message, cwd=scratch)
    return git("push", "origin", f"HEAD:refs/heads/{ref}", cwd=scratch, check=False)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Receiver:
    """The stand-in for flowplan serve: `url`, what it received, and what it answers."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 202
    answer: bytes = json.dumps({"run": "ci#7"}).encode()


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = server.server_address[:2]
    state = Receiver(f"http://{host}:{port}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            state.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
