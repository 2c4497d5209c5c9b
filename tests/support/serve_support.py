"""What the end-to-end tests of `flowplan serve` and bench/deliveries.py share: a config
directory made from examples/quickstart (its app committed to a bare repository under
.flowplan/app.git, the server on a free loopback port) with its `webhook "push"` (provider
`git`: a post-receive hook in app.git, and a secret for signed deliveries) applied by a real
`flowplan apply`, a `flowplan serve` process, and GitHub-signed push deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"
QUICKSTART = REPO / "examples" / "quickstart"
SECRET = "It's a Secret to Everybody"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")

WEBHOOK = """
webhook "push" {
  provider   = "git"
  pipeline   = pipeline.@PIPELINE@
  repository = "${path.config}/.flowplan/app.git"
  branches   = ["master"]
  secret     = var.webhook_secret
}
"""


def flowplan_command() -> list[str]:
    found = shutil.which("flowplan") or str(Path(sys.executable).parent / "flowplan")
    return [found] if Path(found).exists() else [sys.executable, "-m", "flowplan.cli"]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FP_VAR_", "FLOWPLAN_"))}
    env.update({"PYTHONPATH": os.pathsep.join(filter(None, [str(SUPPORT),
                                                            env.get("PYTHONPATH", "")])),
                "FP_VAR_webhook_secret": SECRET,
                "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


def quickstart_like(directory: Path, pipelines: str | None = None,
                    webhook_pipeline: str = "quickstart") -> str:
    """Make `directory` a copy of the quickstart (or its settings and source with `pipelines`
    instead of its own, and a webhook on `webhook_pipeline`) whose server listens on a free
    loopback port, make the app's repository, and `flowplan apply`; returns the app's head
    commit."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(QUICKSTART / "app", directory / "app")
    text = (QUICKSTART / "main.hcl").read_text()
    assert "    port = 8080\n" in text
    text = text.replace("    port = 8080\n", f"    port = {free_port()}\n", 1)
    if pipelines is not None:
        text = text[:text.index('pipeline "quickstart"')] + pipelines
        text += WEBHOOK.replace("@PIPELINE@", webhook_pipeline)
    (directory / "main.hcl").write_text(text)
    work = directory.parent / f"{directory.name}-app-work"
    shutil.copytree(directory / "app", work)
    git(work, "init", "-q", "-b", "master")
    git(work, "add", ".")
    git(work, "-c", "user.name=quickstart", "-c", "user.email=quickstart@example.invalid",
        "commit", "-q", "-m", "The quickstart app")
    head = git(work, "rev-parse", "HEAD")
    (directory / ".flowplan").mkdir(exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(directory / ".flowplan" /
                                                                   "app.git")], check=True)
    shutil.rmtree(work)
    flowplan(directory, "apply", "--auto-approve")
    return head



def flowplan(directory: Path, *args: str, check: bool = True, timeout: float = 120
             ) -> subprocess.CompletedProcess:
    completed = subprocess.run([*flowplan_command(), "-C", str(directory), *args],
                               env=environment(), capture_output=True, text=True,
                               timeout=timeout)
    if check and completed.returncode != 0:
        raise AssertionError(f"flowplan {' '.join(args)} -> {completed.returncode}\n"
                             f"{completed.stdout}\n{completed.stderr}")
    return completed


class Server:
    """`flowplan serve` in the background, on the port of the config's `server {}` block (the
    one its git hook posts to); `url` once it listens."""

    def __init__(self, directory: Path, log_dir: Path, name: str = "serve") -> None:
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [*flowplan_command(), "-C", str(directory), "serve"],
                env=environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.url = self._wait_listening()

    def _wait_listening(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.stdout())
            if found and "REST API" in self.stdout():
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"flowplan serve did not start:\n{self.stdout()}\n{self.stderr()}")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def push_delivery(commit: str, *, ref: str = "refs/heads/master", pusher: str = "octocat",
                  delivery: str | None = None, secret: str = SECRET
                  ) -> tuple[bytes, dict[str, str]]:
    """A GitHub push delivery (body and headers), signed as GitHub signs it."""
    body = json.dumps({
        "ref": ref, "before": "0" * 40, "after": commit, "created": True, "deleted": False,
        "forced": False, "commits": [{"id": commit, "message": "The quickstart app",
                                      "added": ["app.sh"], "removed": [], "modified": []}],
        "repository": {"full_name": "octo-org/quickstart", "default_branch": "master"},
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "sender": {"login": pusher}}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                  "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                  "X-Hub-Signature-256": signature, "User-Agent": "GitHub-Hookshot/044aadd"}
