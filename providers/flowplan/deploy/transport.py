"""The protocol between a deploy and the hosts it reaches.

A `Target` is one host of a deployment group as `apply` recorded it in the state: an SSH host
(address, port, login user, key file or an already resolved private key, the pinned host key), this
machine (`connection = "local"`), or an ECS instance reached through Cloud Assistant. A `Transport`
opens a `Session` to a target; a deploy keeps one session per target for the whole step (SSH
connections are reused for the upload, the script and the health check) and closes it at the end.

Every failure a transport can name is a TransportError whose message is fit for the step log and
names the host: unreachable, authentication refused, host key changed, checksum mismatch, command
timed out. A message never holds a secret (a private key, a password, a token, a signed URL).

`probe` is what `apply` and refresh use: it connects, reads the host key fingerprint and checks that
the deploy user exists, without changing anything on the host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Connection = Literal["ssh", "local", "ecs"]


class TransportError(Exception):
    """A failure reaching or using a host; the message names the host and never a secret."""


class HostUnreachable(TransportError):
    """No SSH conversation with the host: refused, timed out, name not resolved, or cut."""


class HostKeyChanged(TransportError):
    """The host presented another key than the one pinned in the state."""

    def __init__(self, message: str, expected: str | None = None, presented: str | None = None):
        super().__init__(message)
        self.expected = expected            # the pinned fingerprint
        self.presented = presented          # the fingerprint the host presented


class CommandTimedOut(TransportError):
    """`run`'s timeout passed; the remote command was stopped."""


class CommandCanceled(TransportError):
    """`run`'s cancel event was set; the remote command was stopped."""


@dataclass(frozen=True)
class Target:
    name: str                                   # the host block's label, or the instance id
    connection: Connection
    address: str = ""                           # ssh: host name or IP (127.0.0.0/8 in tests)
    port: int = 22
    user: str = "root"                          # the login user
    labels: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)   # reach the script's environment
    key_file: str | None = None                 # ssh: read when connecting, never stored
    private_key: str | None = None              # ssh: a resolved sensitive value
    host_key: str | None = None                 # ssh: pinned fingerprint, "SHA256:<base64>"
    instance_id: str | None = None              # ecs
    region: str | None = None                   # ecs


@dataclass(frozen=True)
class Probe:
    """What `probe` found on a target."""

    reachable: bool
    host_key: str | None = None                 # ssh: "SHA256:<base64>" of the key presented
    user_exists: bool | None = None             # None: not checked
    problem: str | None = None                  # why not reachable, or what is wrong


# Output of a command on a host: (stream "stdout" | "stderr", raw bytes as they come).
OnOutput = Callable[[str, bytes], None]


class Session(Protocol):
    target: Target

    def upload(self, local: Path, remote: str, sha256: str) -> str:
        """Copy `local` to `remote` (a relative path is relative to the login user's home;
        parent directories are created) and verify its SHA-256 on the host. Returns the
        absolute remote path. TransportError on any failure, checksum mismatch included."""

    def run(self, command: str, *, env: Mapping[str, str], on_output: OnOutput,
            timeout: float | None, cancel: threading.Event, user: str | None = None) -> int:
        """Run `command` with `bash -c` on the host, as `user` (None: the login user; another
        user through sudo -u where the transport needs it), with the target's `vars` and then
        `env` (which wins) added to its environment; stream its output to `on_output` as it
        comes. Returns the exit code.
        TransportError when it cannot run, or when `timeout` seconds pass (CommandTimedOut)
        or `cancel` is set (CommandCanceled); the remote command is then stopped."""

    def close(self) -> None: ...


class Transport(Protocol):
    def connect(self, target: Target) -> Session:
        """A session to `target`. TransportError when it cannot be reached, authentication is
        refused, or (ssh) its host key differs from `target.host_key` (HostKeyChanged)."""

    def probe(self, target: Target) -> Probe:
        """Connect, read the host key, check `target.user` exists; change nothing. Never
        raises for an unreachable host: `Probe(reachable=False, problem=...)`."""
