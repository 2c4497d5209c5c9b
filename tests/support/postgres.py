"""Real PostgreSQL servers for tests: Debian's `postgresql` on 127.0.0.1, one cluster per call.

    with start_postgres(tmp_path) as pg:
        pg.url                      # postgresql+psycopg://flowplan:PASSWORD@127.0.0.1:PORT/flowplan
        pg.create_database("other") # another empty database of the same server, its URL
        pg.restart()                # stop (fast) and start again on the same port and data
        pg.stop()

The cluster is made with `initdb`, which refuses to run as root: it runs as the `postgres` system
user (the Debian package makes it) through `setpriv`, in a directory that user owns. The server
listens on 127.0.0.1 on a free port, its socket in the cluster's own directory, with password
authentication (scram-sha-256) for the `flowplan` role, which owns the `flowplan` database.
`postgres_problem()` says why no server can start here (package missing, not root), for a skip
reason.

From a shell (as root), a server that outlives the command, for trying the multi-machine setup
by hand:

    python -m tests.support.postgres --dir DIR        # prints the URL; stop: --stop --dir DIR
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.support.ports import free_port

POSTGRES_USER = "postgres"
ROLE = "flowplan"
DATABASE = "flowplan"
STARTUP_SECONDS = 30.0


def postgres_bin() -> Path | None:
    """The directory of the newest installed PostgreSQL's server programs."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return versions[-1] if versions else None


def postgres_problem() -> str | None:
    if postgres_bin() is None:
        return "PostgreSQL is not installed (Debian package postgresql)"
    if os.geteuid() != 0:
        return "starting PostgreSQL in tests needs root (initdb runs as the postgres user)"
    try:
        pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        return "there is no postgres system user (Debian package postgresql makes it)"
    if shutil.which("setpriv") is None:
        return "setpriv is missing (Debian package util-linux)"
    return None



@dataclass
class Postgres:
    directory: Path             # owned by postgres: data/, the socket, the log
    port: int
    password: str

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return self.url_of(DATABASE)

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        _as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
                      "-w", "-t", str(int(STARTUP_SECONDS)), "-o",
                      f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                      "start"])

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            _as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                         check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run `sql` as the superuser over the cluster's socket; its output."""
        done = _as_postgres([_bin("psql"), "-h", str(self.directory), "-p", str(self.port),
                             "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        return done.stdout

    def create_database(self, name: str) -> str:
        """A new empty database owned by the flowplan role; its URL."""
        self.psql(f'CREATE DATABASE "{name}" OWNER {ROLE}', database="postgres")
        return self.url_of(name)

    def log(self) -> str:
        path = self.directory / "log"
        return path.read_text(errors="replace") if path.exists() else ""


def _bin(name: str) -> str:
    directory = postgres_bin()
    if directory is None:
        raise RuntimeError("PostgreSQL is not installed")
    return str(directory / name)


def _as_postgres(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    account = pwd.getpwnam(POSTGRES_USER)
    done = subprocess.run(["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                           "--init-groups", "--", *argv],
                          capture_output=True, text=True, cwd="/", timeout=120,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return done


def launch(directory: Path) -> Postgres:
    """A new cluster in `directory` (made, given to postgres), started; the `flowplan` role
    (a random password) and its database made."""
    directory.mkdir(parents=True, exist_ok=True)
    account = pwd.getpwnam(POSTGRES_USER)
    for path in (directory, *directory.parents):     # postgres must pass on the way
        if path == Path("/"):
            break
        mode = path.stat().st_mode
        if path == directory:
            os.chown(path, account.pw_uid, account.pw_gid)
            path.chmod(0o700)
        elif not mode & 0o001:
            path.chmod(mode | 0o001)
    password = secrets.token_hex(16)
    server = Postgres(directory, free_port(), password)
    _as_postgres([_bin("initdb"), "-D", str(server.data), "-U", POSTGRES_USER, "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    with open(server.data / "postgresql.conf", "a") as conf:     # written as root: hand back
        conf.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                   "max_connections = 200\n")
    os.chown(server.data / "postgresql.conf", account.pw_uid, account.pw_gid)
    hba = server.data / "pg_hba.conf"
    hba.write_text("local all postgres trust\n"
                   "host all all 127.0.0.1/32 scram-sha-256\n")
    os.chown(hba, account.pw_uid, account.pw_gid)
    server.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            server.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}' CREATEDB",
                        database="postgres")
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections:\n{server.log()}")
            time.sleep(0.1)
    server.psql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}", database="postgres")
    return server


@contextmanager
def start_postgres(directory: Path) -> Iterator[Postgres]:
    server = launch(directory)
    try:
        yield server
    finally:
        server.stop("immediate")


@contextmanager
def postgres_for_tests(prefix: str) -> Iterator[Postgres]:
    """A server for a test module or session, skipping the tests when this machine cannot run
    one. Its directory comes from tempfile.mkdtemp(), not pytest's tmp_path: every pytest
    session sets /tmp/pytest-of-USER back to 0700, which would lock the postgres user out of its
    socket. The directory is removed afterwards."""
    import pytest

    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with start_postgres(directory / "cluster") as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="Start a PostgreSQL server on 127.0.0.1.")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--stop", action="store_true")
    options = parser.parse_args()
    if options.stop:
        Postgres(options.dir, 0, "").stop()
        return 0
    problem = postgres_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    server = launch(options.dir.resolve())
    print(server.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
