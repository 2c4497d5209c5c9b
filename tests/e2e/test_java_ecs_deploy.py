"""The java-ecs walkthrough's deploy through the `flowplan` command, in under a minute: a copy of
examples/java-ecs whose Maven stages are swapped for a jar built with javac (the deploy stages
are the example's own), two sshd hosts of the session's fleet as web1 and web2, and the ECS
emulator with the two instances of production.

`flowplan run` deploys web1 and exits 4 at the pause naming `flowplan resume`; `resume` deploys
web2 and stops before the manual production stage; `approve` deploys both instances through
Cloud Assistant. Each service answers HTTP on its own port, and `flowplan runs show` lists every
host with its batch, status and exit code.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from java_ecs_walkthrough import (DOWNLOAD_PATH, INSTANCES, build_jar, copy_example,
                                  ecs_emulator, flowplan, free_ports, get, machine_variables,
                                  make_greeter_repository, port_is_closed, stop_greeters,
                                  walkthrough_env, without_maven)

MISSING = [tool for tool in ("javac", "jar", "java", "curl") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the greeter needs {', '.join(MISSING)}")


def greeting(port: int, name: str) -> str:
    status, text = get(port, f"/?name={name}")
    assert status == 200
    return text


def host_rows(shown: str) -> dict[str, list[str]]:
    """`runs show`'s deploy host table rows by host: [batch, status, exit, ...]."""
    rows = {}
    for line in shown.splitlines():
        cells = line.split()
        if cells and (cells[0] in ("web1", "web2") or cells[0] in INSTANCES):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.timeout(240)
def test_the_walkthrough_deploys_web1_pauses_then_web2_then_production(tmp_path, ssh_fleet):
    example = copy_example(tmp_path, artifact_port=free_ports(1))
    without_maven(example, build_jar(example, tmp_path))
    make_greeter_repository(example)
    hosts = ssh_fleet.start(2)
    port = free_ports(4)                  # web1, web2, i-greeter1, i-greeter2
    ecs_root = tmp_path / "ecs"
    try:
        with ecs_emulator(ecs_root) as ecs:
            env = walkthrough_env(port, **machine_variables(example, hosts, ecs))
            applied = flowplan(example, env, "apply", "--auto-approve")
            assert applied.returncode == 0, applied.stdout + applied.stderr

            ran = flowplan(example, env, "run", "java_ecs", "--branch", "master")
            assert ran.returncode == 4, ran.stdout + ran.stderr
            assert "flowplan resume java_ecs#1" in ran.stdout + ran.stderr
            assert greeting(port, "canary") == "Hello, canary!\n"
            assert port_is_closed(port + 1)              # web2 waits for the resume
            paused = flowplan(example, env, "runs", "show", "java_ecs#1")
            rows = host_rows(paused.stdout)
            assert rows["web1"][:3] == ["1", "succeeded", "0"], paused.stdout
            assert rows["web2"][:2] == ["2", "queued"], paused.stdout

            resumed = flowplan(example, env, "resume", "java_ecs#1")
            assert resumed.returncode == 4, resumed.stdout + resumed.stderr
            assert "flowplan approve java_ecs#1" in resumed.stdout + resumed.stderr
            assert greeting(port, "web1") == "Hello, web1!\n"
            assert greeting(port + 1, "web2") == "Hello, web2!\n"
            shown = flowplan(example, env, "runs", "show", "java_ecs#1")
            rows = host_rows(shown.stdout)
            assert rows["web1"][:3] == ["1", "succeeded", "0"], shown.stdout
            assert rows["web2"][:3] == ["2", "succeeded", "0"], shown.stdout

            approved = flowplan(example, env, "approve", "java_ecs#1")
            assert approved.returncode == 0, approved.stdout + approved.stderr
            assert greeting(port + 2, "one") == "Hello, one!\n"
            assert greeting(port + 3, "two") == "Hello, two!\n"
            finished = flowplan(example, env, "runs", "show", "java_ecs#1", "--json")
            tree = json.loads(finished.stdout)
            assert tree["run"]["status"] == "succeeded"
            shown = flowplan(example, env, "runs", "show", "java_ecs#1").stdout
            rows = host_rows(shown)
            for instance in INSTANCES:
                assert rows[instance][:3] == ["1", "succeeded", "0"], shown

        # each SSH host has the release as `current`, and the service's pid file beside it
        for host in hosts:
            app = host.home / DOWNLOAD_PATH
            current = (app / "current").resolve()
            assert current.parent == app / "releases"
            assert re.fullmatch(r"[0-9a-f]{12}", current.name)
            assert (current / "target" / "greeter-1.0.jar").is_file()
            assert (app / "greeter.pid").is_file()
    finally:
        stop_greeters(hosts, ecs_root)
        for host in hosts:
            host.stop()
