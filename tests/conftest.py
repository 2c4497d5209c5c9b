"""Puts tests/support on sys.path for every test: cli_workspace and recorder_provider for the
end-to-end tests, inline for the in-process plan/apply tests (tests/unit/engine); and the
fixtures of real SSH hosts (sshd on 127.0.0.1, tests/support/sshd.py) for any test that asks;
and the repository's root, for the API emulators (`from tests.emulators.aliyun import EcsEmulator`).
Sockets of the test process refuse to connect past the loopback range: a config that names
another address fails its test instead of sending traffic out."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
ROOT = SUPPORT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))


# -- real SSH hosts (tests/support/sshd.py) --------------------------------------------------------


@pytest.fixture(scope="session")
def ssh_fleet(tmp_path_factory):
    """Starts sshd hosts on 127.0.0.1 on demand; everything is undone at the end of the session."""
    from sshd import SshdFleet, sshd_problem

    problem = sshd_problem()
    if problem is not None:
        pytest.skip(f"no real SSH hosts: {problem}")
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"))
    yield fleet
    fleet.close()


@pytest.fixture(scope="session")
def ssh_hosts(ssh_fleet):
    """Three sshd hosts shared by the whole session: tests must not change them."""
    return ssh_fleet.start(3)


@pytest.fixture
def fresh_host(ssh_fleet):
    """An sshd host of this test's own, which it may stop, restart or give a new host key."""
    (host,) = ssh_fleet.start(1)
    yield host
    host.stop()


# -- no test reaches past this machine --------------------------------------------------------------

def _loopback_only(connect):
    import ipaddress

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            try:
                allowed = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:          # a host name: resolve it first, as connect would
                allowed = all(ipaddress.ip_address(info[4][0]).is_loopback
                              for info in socket.getaddrinfo(address[0], None))
            if not allowed:
                raise OSError(errno.ENETUNREACH,
                              f"tests only reach 127.0.0.0/8 and ::1, not {address[0]}")
        return connect(self, address)
    return guarded


socket.socket.connect = _loopback_only(socket.socket.connect)
socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex)
