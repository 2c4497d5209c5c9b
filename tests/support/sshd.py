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

From a shell (as root, from the repository's root), hosts that outlive the command, for trying a
deployment group by hand or in an example:

    python -m tests.support.sshd start --hosts 2 --dir DIR [--fpvars FILE]
    python -m tests.support.sshd stop --dir DIR

`start` makes a fleet in DIR (which must be empty or absent) whose sshd processes run in sessions
of their own, and writes DIR/hosts.json (each host's label `web1`..., address, port, user,
key_file, host key fingerprint and sshd pid) and a `*.auto.fpvars` file of variables
(`ssh_key_file`, `web1_port`, `web1_user`, ...; FILE, default DIR/hosts.auto.fpvars). `stop`
stops those sshd processes, kills the users' processes, removes the users, the fpvars file and
DIR. Only the standard library is needed.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator
from tests.support.ports import free_port

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
# Options of OpenSSH's ssh and scp for these hosts: no prompts, and host keys neither checked
# nor remembered (each host's key is new; flowplan pins them, the command-line clients need not).
CLIENT_OPTIONS = ["-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


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
    detached: bool = False                      # sshd in a session of its own: outlives us
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
                self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL, stderr=log,
                                                start_new_session=self.detached)
            if self._wait_until_listening():
                return
            self.stop()
            self.port = free_port()               # the port was taken meanwhile: another one
            self.write_config()
        raise RuntimeError(f"sshd for {self.name} did not start: {self.log.read_text()}")

    def command(self) -> list[str]:
        return [SSHD, "-D", "-e", "-f", str(self.config)]

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

    def __init__(self, directory: Path, *, detached: bool = False, first_number: int = 0):
        self.directory = Path(directory)
        self.detached = detached                # its sshd processes outlive this process
        self.first_number = first_number        # the first host is web<first_number>
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.token = secrets.token_hex(3)
        self.client_key = keygen(self.directory / "client_key")
        self.hosts: list[SshHost] = []
        self._users: list[str] = []
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

    def start(self, count: int) -> list[SshHost]:
        made = [self._host(self.first_number + len(self.hosts) + i) for i in range(count)]
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
                       client_key=self.client_key, detached=self.detached)
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
            remove_user(name)
        self.hosts.clear()
        self._users.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def remove_user(name: str) -> None:
    """Kill every process of a fleet's user, then remove it and its home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    kill_processes_of(uid)
    subprocess.run(["userdel", "--force", "--remove", name], capture_output=True)


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


# -- hosts that outlive the command: python -m tests.support.sshd start|stop ---------------------

HOSTS_FILE = "hosts.json"
FPVARS_MARK = "# Written by `python -m tests.support.sshd start`"


def start_hosts(directory: Path, count: int, fpvars: Path | None = None) -> list[dict]:
    """Start `count` detached sshd hosts in `directory` (empty or absent); record them in
    hosts.json and their variables in `fpvars` (default directory/hosts.auto.fpvars)."""
    directory = Path(directory).absolute()
    if directory.exists() and any(directory.iterdir()):
        if (directory / HOSTS_FILE).exists():
            raise RuntimeError(f"{directory} already holds sshd hosts: stop them first "
                               f"(python -m tests.support.sshd stop --dir {directory})")
        raise RuntimeError(f"{directory} is not empty: give a new or empty directory")
    fpvars = Path(fpvars).absolute() if fpvars else directory / "hosts.auto.fpvars"
    fleet = SshdFleet(directory, detached=True, first_number=1)
    try:
        hosts = fleet.start(count)
        listed = [{"label": h.name, "address": h.address, "port": h.port, "user": h.user,
                   "key_file": str(h.client_key), "host_key": h.host_key,
                   "pid": h.process.pid, "sshd_command": h.command(), "home": str(h.home)}
                  for h in hosts]
        record = {"version": 1, "hosts": listed, "users": list(fleet._users),
                  "fpvars": str(fpvars)}
        fpvars.write_text(fpvars_text(listed, fleet.client_key))
        written = directory / f".{HOSTS_FILE}.tmp"
        written.write_text(json.dumps(record, indent=2) + "\n")
        written.replace(directory / HOSTS_FILE)
    except BaseException:
        fleet.close()
        if fpvars.exists() and fpvars.read_text().startswith(FPVARS_MARK):
            fpvars.unlink()
        raise
    return listed


def fpvars_text(hosts: list[dict], client_key: Path) -> str:
    """`NAME = VALUE` lines in HCL for a config's variables: ssh_key_file, <label>_port,
    <label>_user (names a config does not declare are ignored)."""
    pairs = [("ssh_key_file", json.dumps(str(client_key)))]
    for host in hosts:
        pairs += [(f"{host['label']}_port", str(host["port"])),
                  (f"{host['label']}_user", json.dumps(host["user"]))]
    width = max(len(name) for name, _ in pairs)
    lines = [f"{FPVARS_MARK} ({len(hosts)} sshd hosts on 127.0.0.1);",
             "# `stop` removes it.",
             *(f"{name.ljust(width)} = {value}" for name, value in pairs)]
    return "\n".join(lines) + "\n"


def stop_hosts(directory: Path) -> list[str]:
    """Stop the hosts `start_hosts` recorded in `directory`, remove their users, the fpvars
    file and `directory`; the labels stopped (none when nothing is recorded there)."""
    directory = Path(directory).absolute()
    recorded = directory / HOSTS_FILE
    if not recorded.exists():
        return []
    record = json.loads(recorded.read_text())
    hosts = record.get("hosts", [])
    for host in hosts:
        stop_recorded_sshd(int(host["pid"]), host["sshd_command"])
    for name in record.get("users", []):
        remove_user(name)
    fpvars = Path(record["fpvars"]) if record.get("fpvars") else None
    if fpvars is not None and fpvars.exists() and fpvars.read_text().startswith(FPVARS_MARK):
        fpvars.unlink()
    shutil.rmtree(directory, ignore_errors=True)
    return [host["label"] for host in hosts]


def stop_recorded_sshd(pid: int, command: list[str], wait: float = 5) -> None:
    """SIGTERM (then SIGKILL) `pid`, only while it is still the sshd that was recorded (its
    command line holds the same `sshd -D -e -f CONFIG`): a pid since reused by another program
    is left alone."""
    wanted = " ".join(command)

    def same() -> bool:      # sshd rewrites its title: "sshd: /usr/sbin/sshd -D ... [listener] ..."
        try:
            found = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return f"{wanted} " in found.decode(errors="replace") + " "

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not same():
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        give_up = time.monotonic() + wait
        while time.monotonic() < give_up and same():
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.sshd",
                                     description="Local sshd hosts on 127.0.0.1 that outlive "
                                                 "this command (root, openssh-server).")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start sshd hosts, recorded in DIR/hosts.json")
    start.add_argument("--hosts", type=int, default=2, help="how many (default 2)")
    start.add_argument("--dir", type=Path, required=True,
                       help="a new or empty directory for keys, configs and logs")
    start.add_argument("--fpvars", type=Path,
                       help="where to write the variables (default DIR/hosts.auto.fpvars)")
    stop = commands.add_parser("stop", help="stop the hosts recorded in DIR and remove them")
    stop.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "stop":
        stopped = stop_hosts(args.dir)
        print(f"stopped sshd hosts {', '.join(stopped)}; removed their users and {args.dir}"
              if stopped else f"no sshd hosts recorded in {args.dir}")
        return 0
    if args.hosts < 1:
        parser.error("--hosts must be at least 1")
    problem = sshd_problem()
    if problem is not None:
        print(f"error: cannot start sshd hosts: {problem}", file=sys.stderr)
        return 1
    try:
        hosts = start_hosts(args.dir, args.hosts, args.fpvars)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for host in hosts:
        print(f"{host['label']}: {host['user']}@{host['address']}:{host['port']} "
              f"(sshd pid {host['pid']}, host key {host['host_key']})")
    fpvars = args.fpvars or args.dir / "hosts.auto.fpvars"
    print(f"client key {hosts[0]['key_file']}; hosts in {args.dir / HOSTS_FILE}, "
          f"variables in {fpvars}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
