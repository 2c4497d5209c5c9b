"""flowplan.processes: whether a recorded process group is still the one recorded, and the
account this process runs as. Real processes the tests own."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess

import pytest

from flowplan import processes

OTHER_BOOT = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def leader():
    process = subprocess.Popen(["sleep", "60"], process_group=0)
    yield processes.identify(process.pid)
    process.kill()
    process.wait()


def test_a_live_leader_with_its_start_time_is_still_its_group(leader):
    assert leader.start_time is not None and leader.boot_id == processes.boot_id()
    assert processes.group_is_still(leader.pid, leader.start_time, leader.boot_id)


def test_another_start_time_another_boot_or_none_is_not(leader):
    assert not processes.group_is_still(leader.pid, leader.start_time + 1, leader.boot_id)
    assert not processes.group_is_still(leader.pid, leader.start_time, OTHER_BOOT)
    assert not processes.group_is_still(leader.pid, None, None)


def test_a_group_whose_leader_exited_is_still_its_own_in_the_same_boot_only():
    shell = subprocess.Popen(["bash", "-c", "sleep 60 & echo $!"], process_group=0,
                             stdout=subprocess.PIPE, text=True)
    recorded = processes.identify(shell.pid)
    child = int(shell.stdout.readline())
    shell.wait()
    shell.stdout.close()
    try:
        assert processes.process_start_time(shell.pid) is None     # the leader is gone
        assert processes.group_is_still(shell.pid, recorded.start_time, recorded.boot_id)
        assert not processes.group_is_still(shell.pid, recorded.start_time, OTHER_BOOT)
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_account_is_the_effective_users():
    me = processes.account()
    assert (me.name, me.uid) == (pwd.getpwuid(os.geteuid()).pw_name, os.geteuid())
