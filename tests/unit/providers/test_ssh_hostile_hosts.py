"""SshTransport against hosts that misbehave: one that accepts the connection and never speaks,
one that floods its banner, one that speaks another protocol. Each ends in a TransportError
naming the host, in bounded time, with no traceback and nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from flowplan_providers.flowplan.deploy.transport import HostUnreachable, Target, TransportError
from flowplan_providers.ssh import SshTransport
from sshd import chatty_server, silent_server


def target(port: int, **changes) -> Target:
    values = {"name": "odd", "connection": "ssh", "address": "127.0.0.1", "port": port,
              "user": "deploy", "host_key": "SHA256:pinned", **changes}
    return Target(**values)


@pytest.fixture
def transport():
    made = SshTransport(connect_timeout=1.5)
    yield made
    made.close()


def test_a_host_that_never_answers_times_out(transport):
    with silent_server() as port:
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as failed:
            transport.connect(target(port))
        assert time.monotonic() - started < 5
        assert str(failed.value) == f"odd (127.0.0.1:{port}): no SSH answer within 1.5 s"
        probe = transport.probe(target(port, host_key=None))
        assert (probe.reachable, probe.host_key) == (False, None)
        assert transport.host_key(target(port)).reachable is False


def test_many_silent_hosts_time_out_together_not_one_after_another(transport):
    with silent_server() as port:
        probes = []
        started = time.monotonic()
        threads = [threading.Thread(target=lambda: probes.append(
            transport.probe(target(port, user=f"u{i}", host_key=None)))) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - started < 4
        assert [p.reachable for p in probes] == [False] * 8


@pytest.mark.parametrize("data", [
    b"x" * (4 * 1024 * 1024),                      # a banner with no end
    b"hello there\r\n" * 200_000,                  # endless lines before a version
    b"SSH-1.5-ancient\r\n",                         # another protocol version
    b"SSH-2.0-fake\r\n" + b"\x00\xff" * 40_000,    # a version, then garbage packets
])
def test_a_host_talking_nonsense_fails_cleanly(transport, data):
    with chatty_server(data) as port:
        started = time.monotonic()
        with pytest.raises(TransportError) as failed:
            transport.connect(target(port))
        assert time.monotonic() - started < 6
        assert str(failed.value).startswith(f"odd (127.0.0.1:{port}): ")
        assert "Traceback" not in str(failed.value)
