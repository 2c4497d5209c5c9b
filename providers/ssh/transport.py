"""SshTransport: the deploy transport protocol (flowplan_providers.flowplan.deploy.transport) over
SSH, with asyncssh.

Concurrency: one asyncio event loop, on a thread of its own (providers.ssh.eventloop), carries
every connection of a transport. The protocol's calls are blocking: each submits a coroutine to the
loop and waits, so a deploy that drives twenty hosts from twenty threads keeps twenty
connections busy on one loop, and its threads only handle what comes back (a command's output is
handed to `on_output` in the thread that called `run`, never on the loop).

Connections: one per target (address, port, login user and credentials) for the life of the
transport, shared by `probe`, `connect` and every session to that target, closed by `close()`. A
session's `close()` only ends the session.

Host keys: the key a host presents is checked against `target.host_key` when that is set, and a
different one ends the connection before authentication with HostKeyChanged naming both
fingerprints. With no pinned key, `connect` refuses to trust one (no trust on first use at deploy
time): keys are learned by `probe`, which `apply` records in the state. The host key algorithms
are asked for in a fixed order (Ed25519 first) so that the same server presents the same key
whatever asyncssh's defaults become. `host_key()` reads a host's key without logging in (as
ssh-keyscan), for refresh.

Authentication: `key_file` (read when connecting; relative to `working_dir`), else `private_key`
(a resolved sensitive value), else the SSH agent at SSH_AUTH_SOCK and the default identities in
~/.ssh, as ssh does. Passwords and keyboard-interactive are never tried, and ~/.ssh/config and
known_hosts are not read.

Uploads go over SFTP to a temporary name beside the destination, are checked with `sha256sum` on
the host, then renamed into place. Commands: providers.ssh.commands. Every failure is a
TransportError naming the host; messages carry no key material.
"""

from __future__ import annotations

import asyncio
import os
import queue
import secrets
import signal as signals
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256 as sha256_hash
from pathlib import Path
from typing import Any

import asyncssh

from flowplan_providers.flowplan.deploy.inputs import (checked_environment, checked_user,
                                                       parent_of, remote_path)
from flowplan_providers.flowplan.deploy.transport import (CommandCanceled, CommandTimedOut,
                                                          HostKeyChanged, HostUnreachable,
                                                          OnOutput, Probe, Target,
                                                          TransportError)

from . import commands
from .eventloop import EventLoopThread

CONNECT_TIMEOUT = 10.0          # seconds from TCP connect to logged in
COMMAND_TIMEOUT = 60.0          # the transport's own short commands (checksum, probe, kill)
GRACE_SECONDS = 5.0             # between SIGTERM and SIGKILL when a command is stopped
KEEPALIVE_SECONDS = 15.0
KEEPALIVE_COUNT = 4
READ_SIZE = 65536
MARKER_WINDOW = 65536           # output before the pid line that is searched for it

# AES-GCM first: with AES-NI it costs a fraction of chacha20-poly1305 here, on both ends.
ENCRYPTION = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
              "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr")
HOST_KEY_ALGORITHMS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                       "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256")


def where(target: Target) -> str:
    """How messages name a host: `web1 (10.1.2.3:22)`."""
    address = f"[{target.address}]" if ":" in target.address else target.address
    return f"{target.name} ({address}:{target.port})"


class _Client(asyncssh.SSHClient):
    """Sees the host key: records its fingerprint and accepts it only as told."""

    def __init__(self, pinned: str | None, accept_unpinned: bool):
        self.pinned = pinned
        self.accept_unpinned = accept_unpinned
        self.presented: str | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.presented = key.get_fingerprint("sha256")
        if self.pinned is not None:
            return self.presented == self.pinned
        return self.accept_unpinned


@dataclass
class _Connection:
    """One SSH connection and what has been learned over it."""

    ssh: asyncssh.SSHClientConnection
    fingerprint: str | None
    sftp: asyncio.Task | None = None
    sudo_checked: set[str] = field(default_factory=set)

    @property
    def closed(self) -> bool:
        return self.ssh.is_closed()


class _LoginRefused(TransportError):
    def __init__(self, message: str, presented: str | None):
        super().__init__(message)
        self.presented = presented


class SshTransport:
    """Deploys over SSH. Thread-safe; `close()` (or `with`) releases its connections."""

    def __init__(self, *, working_dir: str | Path | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT, grace: float = GRACE_SECONDS):
        self.working_dir = Path(working_dir) if working_dir is not None else None
        self.connect_timeout = connect_timeout
        self.grace = grace
        self._loop = EventLoopThread()
        self._connections: dict[tuple, _Connection] = {}       # touched on the loop only
        self._opening: dict[tuple, asyncio.Task] = {}

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # -- the protocol ----------------------------------------------------------------------------

    def connect(self, target: Target) -> SshSession:
        _check_target(target)
        if not target.host_key:
            raise TransportError(f"{where(target)}: no host key is pinned for it; run flowplan "
                                 "apply so that the deployment group records it")
        connection = self._loop.call(self._connection(target))
        return SshSession(self, target, connection)

    def probe(self, target: Target) -> Probe:
        try:
            _check_target(target)
        except TransportError as error:
            return Probe(reachable=False, problem=str(error))
        return self._loop.call(self._probe(target))

    def host_key(self, target: Target) -> Probe:
        """The host's key without logging in: Probe(reachable, host_key) or the problem."""
        try:
            _check_target(target)
        except TransportError as error:
            return Probe(reachable=False, problem=str(error))
        return self._loop.call(self._scan(target))

    def close(self) -> None:
        if not self._loop.running:
            return
        try:
            self._loop.call(self._close_all())
        finally:
            self._loop.stop()

    # -- connections (on the loop) ---------------------------------------------------------------

    async def _connection(self, target: Target) -> _Connection:
        key = _connection_key(target)
        found = self._connections.get(key)
        if found is not None and found.closed:
            del self._connections[key]
            found = None
        if found is None:
            opening = self._opening.get(key)
            if opening is None:
                opening = asyncio.ensure_future(self._open(target))
                self._opening[key] = opening
                opening.add_done_callback(lambda _t: self._opening.pop(key, None))
            found = await asyncio.shield(opening)
            self._connections[key] = found
        if target.host_key and found.fingerprint != target.host_key:
            raise _changed(target, found.fingerprint)
        return found

    async def _open(self, target: Target) -> _Connection:
        client = _Client(target.host_key or None, accept_unpinned=True)
        try:
            ssh = await self._dial(target, client, self._options(target))
        except asyncssh.HostKeyNotVerifiable:
            raise _changed(target, client.presented) from None
        return _Connection(ssh, client.presented)

    async def _dial(self, target: Target, client: _Client,
                    options: dict[str, Any]) -> asyncssh.SSHClientConnection:
        """Connect and log in; every failure but HostKeyNotVerifiable as a TransportError."""
        try:
            return await asyncio.wait_for(
                asyncssh.connect(target.address, target.port, client_factory=lambda: client,
                                 **options), self.connect_timeout)
        except asyncssh.HostKeyNotVerifiable:
            raise
        except asyncssh.PermissionDenied:
            raise _LoginRefused(
                f"{where(target)}: authentication refused for user {target.user} "
                f"({self._credentials(target)}; check that the user exists and accepts that "
                "key)", client.presented) from None
        except (asyncio.TimeoutError, TimeoutError):
            raise HostUnreachable(f"{where(target)}: no SSH answer within "
                                  f"{self.connect_timeout:g} s") from None
        except socket.gaierror as error:
            raise HostUnreachable(f"{where(target)}: cannot resolve {target.address!r} "
                                  f"({error.strerror})") from None
        except ConnectionRefusedError:
            raise HostUnreachable(f"{where(target)}: connection refused") from None
        except OSError as error:
            raise HostUnreachable(f"{where(target)}: cannot connect: "
                                  f"{error.strerror or error}") from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
            raise TransportError(f"{where(target)}: cannot use the {self._credentials(target)}: "
                                 f"{error}") from None
        except asyncssh.DisconnectError as error:
            raise HostUnreachable(f"{where(target)}: SSH connection failed: "
                                  f"{error.reason or type(error).__name__}") from None
        except asyncssh.Error as error:
            raise TransportError(f"{where(target)}: SSH connection failed: "
                                 f"{error.reason or type(error).__name__}") from None

    def _options(self, target: Target, *, credentials: bool = True) -> dict[str, Any]:
        options: dict[str, Any] = dict(
            username=target.user, known_hosts=([], [], []), config=[],
            encryption_algs=ENCRYPTION, server_host_key_algs=HOST_KEY_ALGORITHMS,
            compression_algs=None, preferred_auth="publickey", password_auth=False,
            kbdint_auth=False, gss_auth=False, host_based_auth=False,
            connect_timeout=self.connect_timeout, login_timeout=self.connect_timeout,
            keepalive_interval=KEEPALIVE_SECONDS, keepalive_count_max=KEEPALIVE_COUNT)
        if not credentials:
            options.update(client_keys=None, agent_path=None)
        elif target.key_file:
            options.update(client_keys=[self._key_file(target)], agent_path=None)
        elif target.private_key:
            options.update(client_keys=[_imported_key(target)], agent_path=None)
        return options

    def _key_file(self, target: Target) -> asyncssh.SSHKey:
        path = Path(os.path.expanduser(target.key_file or ""))
        if not path.is_absolute() and self.working_dir is not None:
            path = self.working_dir / path
        try:
            return asyncssh.read_private_key(str(path))
        except FileNotFoundError:
            raise TransportError(f"{where(target)}: key_file {path} does not exist") from None
        except OSError as error:
            raise TransportError(f"{where(target)}: cannot read key_file {path}: "
                                 f"{error.strerror or error}") from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
            raise TransportError(f"{where(target)}: key_file {path} is not a private key flowplan "
                                 f"can use ({error}); a key with a passphrase is used through "
                                 "the SSH agent") from None

    @staticmethod
    def _credentials(target: Target) -> str:
        if target.key_file:
            return f"key_file {target.key_file}"
        if target.private_key:
            return "private_key"
        return "the SSH agent and the default keys in ~/.ssh"

    async def _probe(self, target: Target) -> Probe:
        try:
            connection = await self._connection(target)
        except HostKeyChanged as error:
            return Probe(reachable=True, host_key=error.presented, problem=str(error))
        except _LoginRefused as error:
            return Probe(reachable=True, host_key=error.presented, problem=str(error))
        except HostUnreachable as error:
            return Probe(reachable=False, problem=str(error))
        except TransportError as error:
            return Probe(reachable=True, problem=str(error))
        try:
            result = await asyncio.wait_for(connection.ssh.run(commands.PROBE, check=False),
                                            COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError, asyncssh.Error, OSError) as error:
            return Probe(reachable=True, host_key=connection.fingerprint,
                         problem=f"{where(target)}: the probe command failed: "
                                 f"{_reason(error)}")
        lines = _text(result.stdout).splitlines()
        name = lines[0].strip() if lines else ""
        missing = [line.split(":", 1)[1] for line in lines[1:] if line.startswith("missing:")]
        problem = None
        if result.exit_status not in (0, None) or name != target.user:
            problem = (f"{where(target)}: logged in, but `id -un` says {name!r}, not "
                       f"{target.user!r}")
        elif missing:
            problem = (f"{where(target)}: {' and '.join(missing)} not found on the host; the "
                       "deploy needs them")
        return Probe(reachable=True, host_key=connection.fingerprint,
                     user_exists=name == target.user, problem=problem)

    async def _scan(self, target: Target) -> Probe:
        # Never logs in: the key is refused once its fingerprint is recorded.
        client = _Client(None, accept_unpinned=False)
        try:
            ssh = await self._dial(target, client, self._options(target, credentials=False))
        except asyncssh.HostKeyNotVerifiable:
            return Probe(reachable=True, host_key=client.presented)
        except HostUnreachable as error:
            return Probe(reachable=False, problem=str(error))
        except TransportError as error:
            return Probe(reachable=True, host_key=client.presented, problem=str(error))
        ssh.close()                                    # not reached: no key is accepted
        return Probe(reachable=True, host_key=client.presented)

    async def _close_all(self) -> None:
        connections = list(self._connections.values())
        self._connections.clear()
        for connection in connections:
            connection.ssh.close()
        for connection in connections:
            try:
                await asyncio.wait_for(connection.ssh.wait_closed(), 5)
            except (asyncio.TimeoutError, TimeoutError, asyncssh.Error, OSError):
                pass

    def _forget(self, connection: _Connection) -> None:
        """Drop a connection that failed, so the next use connects again."""
        for key, known in list(self._connections.items()):
            if known is connection:
                del self._connections[key]
        connection.ssh.close()


class SshSession:
    """A target's session: its operations share the transport's connection to it."""

    def __init__(self, transport: SshTransport, target: Target, connection: _Connection):
        self.target = target
        self._transport = transport
        self._connection = connection
        self._loop = transport._loop
        self._closed = False

    # -- upload ----------------------------------------------------------------------------------

    def upload(self, local: Path, remote: str, sha256: str) -> str:
        self._check_open()
        path = remote_path(remote, where(self.target))
        if not Path(local).is_file():
            raise TransportError(f"{where(self.target)}: {local} is not a file to upload")
        return self._loop.call(self._upload(Path(local), path, sha256.lower()))

    async def _upload(self, local: Path, path: str, expected: str) -> str:
        host = where(self.target)
        connection = await self._transport._connection(self.target)
        sftp = await self._sftp(connection)
        parent = parent_of(path)
        name = path.rsplit("/", 1)[-1]
        temporary = (f"{parent}/" if parent else "") + f".{name}.flowplan-{secrets.token_hex(6)}"
        placed = False
        try:
            if parent:
                await sftp.makedirs(parent, exist_ok=True)
            await sftp.put(str(local), temporary)
            result = await asyncio.wait_for(
                connection.ssh.run(commands.checksum(temporary), check=False), COMMAND_TIMEOUT)
            found = _text(result.stdout).split(" ", 1)[0].strip().lower()
            if result.exit_status != 0 or not found:
                raise TransportError(f"{host}: cannot compute the SHA-256 of {path} on the host: "
                                     f"{_text(result.stderr).strip() or 'sha256sum failed'}")
            if found != expected:
                raise TransportError(f"{host}: checksum mismatch for {path}: expected sha256 "
                                     f"{expected}, the host has {found}")
            try:
                await sftp.posix_rename(temporary, path)
            except asyncssh.SFTPOpUnsupported:      # a server without the OpenSSH extension
                try:
                    await sftp.remove(path)
                except asyncssh.SFTPNoSuchFile:
                    pass
                await sftp.rename(temporary, path)
            placed = True
            return await sftp.realpath(path)
        except asyncssh.SFTPError as error:
            raise TransportError(f"{host}: cannot write {path}: {_sftp_reason(error)}") from None
        except (asyncio.TimeoutError, TimeoutError):
            raise TransportError(f"{host}: no answer while checking {path}") from None
        except (asyncssh.Error, OSError) as error:
            self._transport._forget(connection)
            raise TransportError(f"{host}: the upload of {path} failed: "
                                 f"{_reason(error)}") from None
        finally:
            if not placed:
                try:
                    await sftp.remove(temporary)
                except (asyncssh.Error, OSError):
                    pass

    async def _sftp(self, connection: _Connection) -> asyncssh.SFTPClient:
        if connection.sftp is None or (connection.sftp.done() and
                                       connection.sftp.exception() is not None):
            connection.sftp = asyncio.ensure_future(connection.ssh.start_sftp_client())
        try:
            return await asyncio.shield(connection.sftp)
        except (asyncssh.Error, OSError) as error:
            raise TransportError(f"{where(self.target)}: cannot start SFTP: "
                                 f"{_reason(error)}") from None

    # -- run -------------------------------------------------------------------------------------

    def run(self, command: str, *, env: Mapping[str, str], on_output: OnOutput,
            timeout: float | None, cancel: threading.Event, user: str | None = None) -> int:
        self._check_open()
        host = where(self.target)
        variables = checked_environment({**self.target.vars, **env}, host)
        run_as = checked_user(user, host) if user and user != self.target.user else None
        if run_as is not None:
            self._loop.call(self._check_sudo(run_as))
        events: queue.SimpleQueue = queue.SimpleQueue()
        future = self._loop.submit(self._run(commands.wrapped(command, variables, run_as),
                                             events))
        deadline = time.monotonic() + timeout if timeout is not None else None
        pgid: int | None = None
        try:
            while True:
                wait = 0.1
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                try:
                    kind, *rest = events.get(timeout=wait)
                except queue.Empty:
                    kind, rest = "", []
                if kind == "pid":
                    pgid = rest[0]
                elif kind == "out":
                    on_output(rest[0], rest[1])
                elif kind == "exit":
                    return rest[0]
                elif kind == "error":
                    raise rest[0]
                if cancel.is_set():
                    self._stop(future, events, pgid, run_as)
                    raise CommandCanceled(f"{host}: the command was canceled and stopped")
                if deadline is not None and time.monotonic() >= deadline:
                    self._stop(future, events, pgid, run_as)
                    raise CommandTimedOut(f"{host}: the command did not finish within "
                                          f"{timeout:g} s and was stopped")
        except BaseException:
            if not future.done():        # on_output raised, or an interrupt: stop it all the same
                self._stop(future, events, pgid, run_as)
            raise

    async def _run(self, text: str, events: queue.SimpleQueue) -> None:
        host = where(self.target)
        try:
            connection = await self._transport._connection(self.target)
            process = await connection.ssh.create_process(text, encoding=None,
                                                          stdin=asyncssh.DEVNULL)
        except TransportError as error:
            events.put(("error", error))
            return
        except (asyncssh.Error, OSError) as error:
            events.put(("error", TransportError(f"{host}: cannot start the command: "
                                                f"{_reason(error)}")))
            return
        try:
            await asyncio.gather(self._pump("stdout", process.stdout, events, first=True),
                                 self._pump("stderr", process.stderr, events, first=False))
            await process.wait_closed()
        except asyncio.CancelledError:
            process.close()
            raise
        except (asyncssh.Error, OSError) as error:
            process.close()
            self._transport._forget(connection)
            events.put(("error", HostUnreachable(f"{host}: the connection was lost while the "
                                                 f"command ran: {_reason(error)}")))
            return
        if process.exit_signal is not None:
            name = process.exit_signal[0]
            number = getattr(signals.Signals, f"SIG{name}", None)
            events.put(("exit", 128 + (number.value if number is not None else 0)))
        elif process.exit_status is None or process.exit_status < 0:
            events.put(("error", HostUnreachable(f"{host}: the command ended without an exit "
                                                 "status (the connection was lost)")))
        else:
            events.put(("exit", process.exit_status))

    @staticmethod
    async def _pump(stream: str, reader: asyncssh.SSHReader, events: queue.SimpleQueue,
                    first: bool) -> None:
        # The pid line comes first from the command, but the login shell's startup files
        # (~/.bashrc) may print before it: their lines pass through, up to MARKER_WINDOW bytes.
        seen = 0
        while first and seen < MARKER_WINDOW:
            line = await reader.readline()
            if not line:
                return
            seen += len(line)
            at = line.rfind(commands.PID_MARKER)
            number = line[at + len(commands.PID_MARKER):].rstrip(b"\n") if at >= 0 else b""
            if number.isdigit() and line.endswith(b"\n"):
                if at:                     # a startup file's output without its newline
                    events.put(("out", stream, line[:at]))
                events.put(("pid", int(number)))
                break
            events.put(("out", stream, line))
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            events.put(("out", stream, data))

    def _stop(self, future, events: queue.SimpleQueue, pgid: int | None,
              run_as: str | None) -> None:
        """Stop the remote command: SIGTERM to its process group, SIGKILL after the grace
        period, then close the channel. Output arriving meanwhile is dropped."""
        give_up = time.monotonic() + 2.0
        while pgid is None and not future.done() and time.monotonic() < give_up:
            try:
                kind, *rest = events.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "pid":
                pgid = rest[0]
        if pgid is not None:
            for name, wait in (("TERM", self._transport.grace), ("KILL", 2.0)):
                if future.done():
                    break
                try:
                    self._loop.call(self._signal(pgid, name, run_as))
                except TransportError:
                    break
                try:
                    future.result(timeout=wait)
                except Exception:       # noqa: BLE001 - done, timed out or failed: all stop it
                    pass
        future.cancel()

    async def _signal(self, pgid: int, name: str, run_as: str | None) -> None:
        connection = await self._transport._connection(self.target)
        try:
            await asyncio.wait_for(connection.ssh.run(commands.signal_group(pgid, name, run_as),
                                                      check=False), COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError, asyncssh.Error, OSError) as error:
            raise TransportError(f"{where(self.target)}: cannot stop the command: "
                                 f"{_reason(error)}") from None

    async def _check_sudo(self, run_as: str) -> None:
        connection = await self._transport._connection(self.target)
        if run_as in connection.sudo_checked:
            return
        host = where(self.target)
        try:
            result = await asyncio.wait_for(
                connection.ssh.run(commands.sudo_check(run_as), check=False), COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError, asyncssh.Error, OSError) as error:
            raise TransportError(f"{host}: cannot check sudo: {_reason(error)}") from None
        if result.exit_status == 127:
            raise TransportError(f"{host}: cannot run as {run_as}: sudo is not installed there "
                                 f"(the login user is {self.target.user})")
        if result.exit_status != 0:
            reason = _text(result.stderr).strip().splitlines()[-1:] or ["refused"]
            raise TransportError(f"{host}: cannot run as {run_as}: `sudo -n -u {run_as}` was "
                                 f"refused for {self.target.user} ({reason[0]})")
        connection.sudo_checked.add(run_as)

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{where(self.target)}: the session is closed")


def _check_target(target: Target) -> None:
    if target.connection != "ssh":
        raise TransportError(f"{target.name}: connection {target.connection!r} is not SSH")
    if not target.address or any(c.isspace() or c == "\x00" for c in target.address) \
            or target.address.startswith("-"):
        raise TransportError(f"{target.name}: {target.address!r} is not a host address")
    if type(target.port) is not int or not 1 <= target.port <= 65535:
        raise TransportError(f"{target.name}: port {target.port} is out of range")
    checked_user(target.user, where(target))


def _connection_key(target: Target) -> tuple:
    if target.key_file:
        credentials = ("key_file", target.key_file)
    elif target.private_key:
        credentials = ("private_key", sha256_hash(target.private_key.encode()).hexdigest())
    else:
        credentials = ("agent",)
    return (target.address, int(target.port), target.user, credentials)


def _imported_key(target: Target) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_private_key(target.private_key or "")
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
        raise TransportError(f"{where(target)}: private_key is not a private key flowplan can "
                             f"use ({error}); a key with a passphrase is used through the SSH "
                             "agent") from None


def _changed(target: Target, presented: str | None) -> HostKeyChanged:
    return HostKeyChanged(
        f"{where(target)}: host key changed: pinned {target.host_key}, presented "
        f"{presented or 'none'}; flowplan refuses the host until the new key is checked and "
        "pinned again with flowplan apply --replace on its deployment group",
        expected=target.host_key, presented=presented)


def _text(data: Any) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    if reason:
        return str(reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _sftp_reason(error: asyncssh.SFTPError) -> str:
    if isinstance(error, asyncssh.SFTPPermissionDenied):
        return "permission denied"
    if isinstance(error, asyncssh.SFTPNoSuchFile):
        return "no such file or directory"
    return error.reason or type(error).__name__
