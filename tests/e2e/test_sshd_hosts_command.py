"""`python -m tests.support.sshd start|stop`: local sshd hosts that outlive the command, for the
java-ecs walkthrough and for trying deployment groups by hand. The hosts it starts answer SSH
logins with the client key it wrote, a config applying a deployment group from the variables
file it wrote pins the keys it recorded, and `stop` leaves no process, user or file behind."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from cli_workspace import REPO
from sshd import CLIENT_OPTIONS, SSHD, sshd_problem, stop_recorded_sshd

pytestmark = pytest.mark.skipif(sshd_problem() is not None,
                                reason=f"no real SSH hosts: {sshd_problem()}")

GROUP = """
variable "ssh_key_file" {}
variable "web1_port" { type = number }
variable "web1_user" {}
variable "web2_port" { type = number }
variable "web2_user" {}

deployment_group "daily" {
  environment = "daily"
  host "web1" {
    address  = "127.0.0.1"
    port     = var.web1_port
    user     = var.web1_user
    key_file = var.ssh_key_file
  }
  host "web2" {
    address  = "127.0.0.1"
    port     = var.web2_port
    user     = var.web2_user
    key_file = var.ssh_key_file
  }
}
"""


def sshd_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.support.sshd", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def alive(pid: int) -> bool:
    """Whether `pid` runs (an exited process not reaped yet, a zombie, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_start_leaves_hosts_a_config_can_apply_and_stop_removes_everything(workspace,
                                                                            run_flowplan):
    hosts_dir = workspace.root / "hosts"
    fpvars = workspace.config / "sshd.auto.fpvars"
    started = sshd_command("start", "--hosts", "2", "--dir", str(hosts_dir),
                           "--fpvars", str(fpvars))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        record = json.loads((hosts_dir / "hosts.json").read_text())
        hosts = record["hosts"]
        assert [h["label"] for h in hosts] == ["web1", "web2"]
        assert len({h["port"] for h in hosts}) == 2
        for host in hosts:
            assert host["address"] == "127.0.0.1"
            assert host["key_file"] == str(hosts_dir / "client_key")
            assert f"{host['label']}: {host['user']}@127.0.0.1:{host['port']}" in started.stdout
            # sshd outlived the command, in a session of its own (a Ctrl-C to a script that
            # started it does not reach it)
            assert alive(host["pid"]) and os.getsid(host["pid"]) == host["pid"]
            login = subprocess.run(["ssh", *CLIENT_OPTIONS, "-i", host["key_file"], "-p",
                                    str(host["port"]), f"{host['user']}@127.0.0.1", "id -un"],
                                   capture_output=True, text=True, timeout=30)
            assert login.stdout.strip() == host["user"], login.stderr

        workspace.write(GROUP)
        applied = run_flowplan("apply", "--auto-approve")
        assert applied.code == 0, applied
        attributes = workspace.state()["resources"][0]["attributes"]
        assert attributes["host_keys"] == {h["label"]: h["host_key"] for h in hosts}

        again = sshd_command("start", "--hosts", "1", "--dir", str(hosts_dir))
        assert again.returncode == 1
        assert "already holds sshd hosts: stop them first" in again.stderr
    finally:
        stopped = sshd_command("stop", "--dir", str(hosts_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped sshd hosts web1, web2" in stopped.stdout
    for host in hosts:
        assert not alive(host["pid"])
        assert not user_exists(host["user"])
        assert not Path(host["home"]).exists()
    assert not hosts_dir.exists() and not fpvars.exists()
    nothing = sshd_command("stop", "--dir", str(hosts_dir))
    assert nothing.returncode == 0 and "no sshd hosts recorded" in nothing.stdout


def test_start_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    refused = sshd_command("start", "--hosts", "1", "--dir", str(tmp_path))
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_stop_leaves_alone_a_recorded_pid_that_is_no_longer_that_sshd(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        stop_recorded_sshd(other.pid, [SSHD, "-D", "-e", "-f", str(tmp_path / "sshd_config")],
                           wait=0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
