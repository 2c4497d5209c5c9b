"""What the end-to-end tests of `flowplan run` and friends share (tests/e2e/test_cli_runs_*.py).

Real git repositories made with the git command in a test's tmp_path, `flowplan` processes started
in the background (for cancel, a crash, `logs --follow`, concurrent runs), direct read-only looks
at the SQLite store, and a liveness check that does not count zombies as alive (pid 1 in these
containers need not reap orphans).

HCL is written with `@NAME@` placeholders filled by `fill(text, NAME=value)` so that `${...}` in
the config needs no doubling of braces.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from cli_workspace import Result, Workspace

ANSI_ESCAPE = re.compile(r"\x1b\[")
DURATION = re.compile(r"\b\d+(?:\.\d)?s\b|\b\d+m\d\ds\b")


def fill(text: str, **values: object) -> str:
    for name, value in values.items():
        text = text.replace(f"@{name.upper()}@", str(value))
    return text


# -- git ------------------------------------------------------------------------------------------

def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repository(path: Path, files: dict[str, str] | None = None,
                    message: str = "First commit") -> Path:
    """A git repository on branch master with `files` committed by Ada Lovelace."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "master")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    commit_files(path, files or {"README": "hello from master\n"}, message)
    return path


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if name.endswith(".sh"):
            target.chmod(0o755)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def ref_format_ok(name: str) -> bool:
    return subprocess.run(["git", "check-ref-format", "--branch", name],
                          capture_output=True).returncode == 0


# -- processes ------------------------------------------------------------------------------------

def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_for(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.05,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Background:
    """A `flowplan` command running in the background, its output going to files."""

    def __init__(self, workspace: Workspace, *args: str, name: str = "bg") -> None:
        self.args = args
        self.stdout_path = workspace.root / f"{name}.stdout"
        self.stderr_path = workspace.root / f"{name}.stderr"
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(workspace.command(*args), env=workspace.base_env(),
                                            stdin=subprocess.DEVNULL, stdout=stdout,
                                            stderr=stderr, cwd=workspace.root)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float = 60) -> Result:
        code = self.process.wait(timeout=timeout)
        return Result(code, self.stdout(), self.stderr(), self.args)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the store ------------------------------------------------------------------------------------

def query(workspace: Workspace, sql: str, *params: object) -> list[tuple]:
    """Rows from the run store, read-only (the store is SQLite in WAL or rollback mode)."""
    if not workspace.store_path.exists():
        return []
    connection = sqlite3.connect(f"file:{workspace.store_path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        connection.close()


def run_status(workspace: Workspace, pipeline: str, number: int) -> str | None:
    rows = query(workspace, "select status from runs where pipeline = ? and number = ?",
                 pipeline, number)
    return rows[0][0] if rows else None


def running_step_pid(workspace: Workspace, pipeline: str, number: int) -> int | None:
    rows = query(workspace, "select s.pid from step_runs s join runs r on r.id = s.run_id "
                 "where r.pipeline = ? and r.number = ? and s.status = 'running' "
                 "and s.pid is not null", pipeline, number)
    return rows[0][0] if rows else None


def step_pids(workspace: Workspace, pipeline: str, number: int) -> dict[str, int]:
    """The recorded pid (the process group leader) of each running step, by `task/step`."""
    rows = query(workspace, "select s.task, s.step, s.pid from step_runs s join runs r "
                 "on r.id = s.run_id where r.pipeline = ? and r.number = ? "
                 "and s.status = 'running' and s.pid is not null", pipeline, number)
    return {f"{task}/{step}": pid for task, step, pid in rows}


def stored_log(workspace: Workspace, pipeline: str, number: int) -> str:
    """The run's log text as stored so far (all steps, in storing order)."""
    rows = query(workspace, "select l.text from log_chunks l join runs r on r.id = l.run_id "
                 "where r.pipeline = ? and r.number = ? order by l.id", pipeline, number)
    return "\n".join(row[0] for row in rows)


def parse_json(result: Result) -> Any:
    assert result.code == 0, str(result)
    return json.loads(result.stdout)


def parse_json_lines(result: Result) -> list[dict]:
    assert result.code == 0, str(result)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def run_on_terminal(workspace: Workspace, *args: str, timeout: float = 60) -> Result:
    """Run `flowplan ARGS` with a pseudo-terminal as stdin, stdout and stderr (colours on: no
    NO_COLOR); the output is everything the terminal received, escapes included."""
    import pty
    import select

    env = workspace.base_env()
    env.pop("NO_COLOR", None)
    env.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(workspace.command(*args), env=env, stdin=slave, stdout=slave,
                                   stderr=slave, cwd=workspace.root, close_fds=True)
    finally:
        os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not data:
                    break
                received += data
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"flowplan {' '.join(args)} on a terminal took over {timeout}s")
        code = process.wait(timeout=10)
    finally:
        os.close(master)
    text = received.decode("utf-8", errors="replace")
    return Result(code, text, "", args)


def strip_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")


def last_frame(text: str, title: str) -> str:
    """The terminal's output without escapes, from the last drawing of the live tree (whose
    first line is `title`) on."""
    plain = strip_escapes(text)
    at = plain.rfind(title)
    assert at >= 0, f"no {title!r} in the terminal output:\n{plain}"
    return plain[at:]
