"""`flowplan` driving a host_deploy to a real sshd host and a local host: what only the command
shows (the pause's exit code 4 and the `flowplan resume` it prints, `resume` continuing, `runs
show` listing each host, `rollback --to` redeploying run 1's artifact)."""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path

import pytest

from cli_workspace import write_and_apply
from runs_support import fill

CONFIG = """
deployment_group "web" {
  environment = "test"
  host "local0" {
    connection = "local"
    user       = "@LOCAL@"
  }
  host "web0" {
    address  = "127.0.0.1"
    port     = @PORT@
    user     = "@USER@"
    key_file = "@KEY@"
  }
}

pipeline "app" {
  stage "build" {
    task "package" {
      step "files" {
        type = "command"
        run  = "mkdir -p dist && echo v${run.number} > dist/version"
      }
      step "archive" {
        type  = "archive"
        name  = "package"
        paths = ["dist"]
      }
    }
  }
  stage "deploy" {
    task "hosts" {
      step "deploy" {
        type             = "host_deploy"
        artifact         = "package"
        deployment_group = deployment_group.web
        download_path    = "@PATH@"
        script           = "cat dist/version"
        batches          = 2
        pause            = "first_batch"
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def local_user(ssh_fleet):
    return ssh_fleet.add_user(f"fpe2e{ssh_fleet.token}", authorized=False)


def current(user: str, path: str) -> str:
    link = Path(pwd.getpwnam(user).pw_dir) / path / "current"
    return (link / "dist" / "version").read_text().strip()


def test_a_paused_deploy_exits_4_resumes_shows_its_hosts_and_rolls_back(
        workspace, run_flowplan, ssh_hosts, local_user):
    web0 = ssh_hosts[0]
    path = f"deploys/e2e-{secrets.token_hex(4)}"
    write_and_apply(workspace, fill(CONFIG, local=local_user, port=web0.port, user=web0.user,
                                    key=web0.client_key, path=path))

    started = run_flowplan("run", "app")
    assert started.code == 4, started
    assert "flowplan resume app#1" in started.output
    assert current(local_user, path) == "v1"
    assert not (Path(web0.home) / path / "current").exists()

    resumed = run_flowplan("resume", "app#1")
    assert resumed.code == 0, resumed
    assert current(web0.user, path) == "v1"

    shown = run_flowplan("runs", "show", "app#1")
    assert shown.code == 0, shown
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert ["host", "batch", "status", "exit", "time"] in rows
    assert ["local0", "1", "succeeded", "0"] == next(r for r in rows if r[:1] == ["local0"])[:4]
    assert ["web0", "2", "succeeded", "0"] == next(r for r in rows if r[:1] == ["web0"])[:4]
    assert "deployed to 2 of 2 hosts in 2 batches" in shown.stdout

    rolled = run_flowplan("rollback", "app", "--to", "1")
    assert rolled.code == 4, rolled                       # the rollback pauses too
    assert "flowplan resume app#2" in rolled.output
    finished = run_flowplan("resume", "app#2")
    assert finished.code == 0, finished
    logs = run_flowplan("logs", "app#2")
    assert "upload skipped" in logs.stdout, logs
    assert current(web0.user, path) == "v1"
