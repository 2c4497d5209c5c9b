"""A free TCP port on 127.0.0.1, for the servers the tests start (sshd, registries, databases).

Imported as `tests.support.ports` so that the support modules also work when run on their own
(`python -m tests.support.postgres`)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now; the caller binds it soon after (a small race, accepted)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
