"""Real SSH hosts for tests: `sshd` processes (Debian's openssh-server) on 127.0.0.1.

    fleet = SshdFleet(tmp_dir)            # one client key pair for all its hosts
    web1, web2 = fleet.start(2)           # two sshd, each its own port, host key and user
    web1.target()                         # a deploy Target for it (key_file = the client key)
    web1.replace_host_key()               # the same host presents a new key from now on
    fleet.close()                         # stops every sshd, kills the users' processes,
                                          # removes the users

Each host is its own system user (`fpssh<token><n>`, home under /home, login shell bash, password
field `*`: without PAM, sshd refuses key logins to a locked `!` account) with the fleet's public
key in ~/.ssh/authorized_keys, and its own sshd: `-D -e -f CONFIG`, `UsePAM no`, key logins only,
`Subsystem sftp internal-sftp`, VERBOSE logging to a file (`Connection from` lines count the TCP
connections it accepted). Creating users needs root; the fixtures in tests/conftest.py skip with a
reason when sshd is not installed or the tests do not run as root.

Also here: `silent_server()` (accepts TCP connections and never says a word: a host that hangs)
and `chatty_server(data)` (sends `data` to everyone who connects, then nothing).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def sshd_problem() -> str | None:
    """Why real sshd hosts cannot be started here, or None."""
    if not os.access(SSHD, os.X_OK):
        return ("openssh-server is not installed (scripts/test installs it: apt-get install "
                "openssh-server)")
    if os.geteuid() != 0:
        return "starting sshd hosts needs root (each host is a system user made by useradd)"
    for tool in ("ssh-keygen", "useradd", "userdel", "usermod"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fingerprint(public_key: Path) -> str:
    """`SHA256:...` of a public key file, as ssh-keygen -l prints it."""
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
                            check=True, capture_output=True, text=True).stdout
    return listed.split()[1]


def keygen(path: Path, kind: str = "ed25519") -> Path:
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)],
                   check=True)
    return path


@dataclass
class SshHost:
    name: str
    port: int
    user: str
    home: Path
    directory: Path
    client_key: Path
    address: str = "127.0.0.1"
    process: subprocess.Popen | None = None
    host_key: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "sshd.log"

    @property
    def config(self) -> Path:
        return self.directory / "sshd_config"

    @property
    def host_key_file(self) -> Path:
        return self.directory / "ssh_host_ed25519_key"

    def target(self, **changes):
        """A deploy Target reaching this host with the fleet's key, its key pinned."""
        from flowplan_providers.flowplan.deploy.transport import Target

        made = Target(name=self.name, connection="ssh", address=self.address, port=self.port,
                      user=self.user, key_file=str(self.client_key), host_key=self.host_key)
        return replace(made, **changes)

    def connections(self) -> int:
        """How many TCP connections this sshd has accepted so far."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("Connection from ")

    def start(self) -> None:
        for _attempt in range(5):
            self.log.write_text("")
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                                stdout=subprocess.DEVNULL, stderr=log)
            if self._wait_until_listening():
                return
            self.stop()
            self.port = free_port()               # the port was taken meanwhile: another one
            self.write_config()
        raise RuntimeError(f"sshd for {self.name} did not start: {self.log.read_text()}")

    def _wait_until_listening(self) -> bool:
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as probe:
                    if probe.recv(64).startswith(b"SSH-2.0"):
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def replace_host_key(self) -> str:
        """Restart this sshd (same port, same user) with a new host key; its fingerprint."""
        self.stop()
        keygen(self.host_key_file)
        self.host_key = fingerprint(Path(f"{self.host_key_file}.pub"))
        self.start()
        return self.host_key

    def write_config(self) -> None:
        self.config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {self.host_key_file}\n"
            "PidFile none\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "AuthorizedKeysFile .ssh/authorized_keys\n"
            "StrictModes yes\n"
            f"AllowUsers {self.user}\n"
            "Subsystem sftp internal-sftp\n"
            "MaxStartups 100:30:200\n"
            "MaxSessions 100\n"
            "LogLevel VERBOSE\n")


class SshdFleet:
    """sshd hosts sharing one client key pair; `close()` undoes everything it made."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.token = secrets.token_hex(3)
        self.client_key = keygen(self.directory / "client_key")
        self.hosts: list[SshHost] = []
        self._users: list[str] = []
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

    def start(self, count: int) -> list[SshHost]:
        made = [self._host(len(self.hosts) + i) for i in range(count)]
        for host in made:
            host.start()
        self.hosts.extend(made)
        return made

    def _host(self, number: int) -> SshHost:
        user = self.add_user(f"fpssh{self.token}{number}")
        directory = self.directory / f"host{number}"
        directory.mkdir()
        host = SshHost(name=f"web{number}", port=free_port(), user=user,
                       home=Path(pwd.getpwnam(user).pw_dir), directory=directory,
                       client_key=self.client_key)
        keygen(host.host_key_file)
        host.host_key = fingerprint(Path(f"{host.host_key_file}.pub"))
        host.write_config()
        return host

    def add_user(self, name: str, authorized: bool = True) -> str:
        """A system user with a home; the fleet's key may log in as it when `authorized`."""
        made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"useradd {name}: {made.stderr.strip()}")
        self._users.append(name)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
        if authorized:
            account = pwd.getpwnam(name)
            ssh_dir = Path(account.pw_dir) / ".ssh"
            ssh_dir.mkdir(mode=0o700, exist_ok=True)
            keys = ssh_dir / "authorized_keys"
            keys.write_text(Path(f"{self.client_key}.pub").read_text())
            keys.chmod(0o600)
            for path in (ssh_dir, keys):
                os.chown(path, account.pw_uid, account.pw_gid)
        return name

    def close(self) -> None:
        for host in self.hosts:
            host.stop()
        for name in self._users:
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            kill_processes_of(uid)
            subprocess.run(["userdel", "--force", "--remove", name], capture_output=True)
        self.hosts.clear()
        self._users.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def kill_processes_of(uid: int) -> None:
    """SIGKILL every process of a test user (sessions a test left behind)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@contextmanager
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers (a hung host)."""
    with _server(b"") as port:
        yield port


@contextmanager
def chatty_server(data: bytes) -> Iterator[int]:
    """A port on 127.0.0.1 that sends `data` to each connection, then keeps silent."""
    with _server(data) as port:
        yield port


@contextmanager
def _server(data: bytes) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)
            if data:
                try:
                    connection.sendall(data)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()
