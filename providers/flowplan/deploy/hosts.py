"""A deployment group's hosts as deploy Targets, and the transport that reaches each kind.

`host_targets` reads a group's attributes as the state and the store hold them (`host` blocks by
label, `host_keys` by label) and makes one Target per host, filling in what the config may leave
out: the login user (`root` over SSH, the user flowplan runs as for `connection = "local"`).
Values that are not plain strings (a sensitive marker where the config had a sensitive value)
are left out: a `private_key` is handed over only when the caller has it in clear.

`transport_for` loads a transport by connection on first use: the SSH one (and asyncssh with it)
is imported only when a group has SSH hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .local import current_user
from .transport import Target, Transport

DEFAULT_SSH_USER = "root"


def host_targets(attributes: Mapping[str, Any], *, pinned: bool = True) -> list[Target]:
    """One Target per `host` block, in label order; `pinned=False` leaves host keys out."""
    hosts = attributes.get("host")
    keys = attributes.get("host_keys") if pinned else None
    found = []
    for label in sorted(hosts) if isinstance(hosts, dict) else ():
        host = hosts[label] if isinstance(hosts[label], dict) else {}
        found.append(host_target(label, host, keys.get(label) if isinstance(keys, dict) else None))
    return found


def host_target(label: str, host: Mapping[str, Any], host_key: Any = None) -> Target:
    connection = host.get("connection") if host.get("connection") in ("ssh", "local") else "ssh"
    user = _text(host.get("user")) or (current_user() if connection == "local"
                                        else DEFAULT_SSH_USER)
    port = host.get("port")
    return Target(
        name=label, connection=connection, address=_text(host.get("address")) or "",
        port=port if type(port) is int else 22, user=user,
        labels={k: v for k, v in (host.get("labels") or {}).items() if isinstance(v, str)},
        vars={k: v for k, v in (host.get("vars") or {}).items() if isinstance(v, str)},
        key_file=_text(host.get("key_file")), private_key=_text(host.get("private_key")),
        host_key=_text(host_key) if connection == "ssh" else None)


def transport_for(connection: str, working_dir: str | Path | None = None,
                  connect_timeout: float | None = None) -> Transport:
    """A new transport for `connection` ("ssh" or "local"); the caller closes it."""
    if connection == "local":
        from .local import LocalTransport

        return LocalTransport()
    if connection == "ssh":
        from flowplan_providers.ssh import SshTransport

        options = {} if connect_timeout is None else {"connect_timeout": connect_timeout}
        return SshTransport(working_dir=working_dir, **options)
    raise ValueError(f"no transport for connection {connection!r}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
