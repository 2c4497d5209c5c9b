"""The java-ecs walkthrough end to end, for real: a copy of examples/java-ecs (without the
.flowplan/ or target/ a previous run left in the source tree) with mvn, java and curl from this
machine and the offline ~/.m2 (`maven_flags` keeps its default, -o).

The first test runs the example's own run.sh, as its README says, with everything left running
(GREETER_KEEP_RUNNING=1) on free ports: run.sh starts two sshd hosts and the ECS emulator; the
scan and unit tasks succeed, the unit step's summary has the totals, package.tgz holds the jar
and deploy.sh, the run pauses after web1 until run.sh resumes it, waits for the production
approval, and then the four services (web1, web2 and the two ECS instances) answer here until
`run.sh stop` stops them, the hosts and the emulator. The second applies with
fail_a_test=true: the unit task fails and its summary names the test that failed; nothing is
built or deployed. (tests/e2e/test_java_ecs_deploy.py drives the deploy without Maven.)
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cli_workspace import REPO
import java_ecs_walkthrough as walkthrough
from java_ecs_walkthrough import (DOWNLOAD_PATH, EXAMPLE, INSTANCES, copy_example,
                                  ecs_emulator, free_ports, get, machine_variables,
                                  make_greeter_repository, port_is_closed, port_is_free,
                                  walkthrough_env)
from sshd import sshd_problem

FAILING_TEST = "failsOnlyWhenGreeterFailTestIsTrue"
MISSING = [tool for tool in ("mvn", "java") if shutil.which(tool) is None]

# Maven and the JVM start several times: on a loaded 2-core machine that takes minutes.
TIMEOUT = 840
needs_java = pytest.mark.skipif(bool(MISSING), reason=f"the java-ecs walkthrough builds with "
                                                      f"Maven and runs Java; missing: "
                                                      f"{', '.join(MISSING)}")
needs_root_and_sshd = pytest.mark.skipif(sshd_problem() is not None,
                                         reason=f"the walkthrough's SSH hosts: {sshd_problem()}")


def flowplan(example: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return walkthrough.flowplan(example, env, *args, timeout=TIMEOUT)


def run_tree(example: Path, env: dict[str, str], run: str) -> dict[str, Any]:
    shown = flowplan(example, env, "runs", "show", run, "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return json.loads(shown.stdout)


def task(tree: dict[str, Any], stage: str, name: str) -> dict[str, Any]:
    for one_stage in tree["stages"]:
        if one_stage["name"] == stage:
            for one_task in one_stage["tasks"]:
                if one_task["record"]["task"] == name:
                    return one_task
    raise AssertionError(f"no task {stage}/{name} in {json.dumps(tree, indent=1)[:4000]}")


def step(tree: dict[str, Any], stage: str, task_name: str, name: str) -> dict[str, Any]:
    for one_step in task(tree, stage, task_name)["steps"]:
        if one_step["step"] == name:
            return one_step
    raise AssertionError(f"no step {stage}/{task_name}/{name}")


def summary_text(one_step: dict[str, Any]) -> str:
    summary = one_step.get("summary") or {}
    return "\n".join([str(summary.get("title") or ""),
                      *(str(line) for line in summary.get("lines") or ())])


def outputs_text(one_step: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in (one_step.get("outputs") or {}).items()}


def sshd_users(example: Path) -> list[str]:
    recorded = example / ".flowplan" / "sshd" / "hosts.json"
    return [h["user"] for h in json.loads(recorded.read_text())["hosts"]]


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@needs_java
@needs_root_and_sshd
@pytest.mark.timeout(TIMEOUT + 60)
def test_run_sh_builds_deploys_daily_in_two_batches_then_production_and_stops(tmp_path):
    example = copy_example(tmp_path, artifact_port=free_ports(1))
    port = free_ports(4)                   # web1, web2, i-greeter1, i-greeter2
    env = walkthrough_env(port, GREETER_KEEP_RUNNING="1", FP_VAR_ecs_port=str(free_ports(1)),
                          FLOWPLAN_CHECKOUT=str(REPO))
    users: list[str] = []
    try:
        completed = subprocess.run(["./run.sh"], cwd=example, env=env, capture_output=True,
                                   text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, output
        assert "Traceback" not in output
        users = sshd_users(example)

        # the first drive paused after web1 (run.sh checks exit code 4), the resume stopped
        # before the manual production stage, the approval finished the run
        assert "flowplan resume java_ecs#1" in output, output
        assert "    flowplan approve java_ecs#1" in output, output
        assert re.search(r"^==> java_ecs#1 succeeded", output, re.M), output
        shown_while_paused = output.split("==> flowplan runs show java_ecs#1", 2)[1]
        assert re.search(r"^\s+web1\s+1\s+succeeded\s+0\b", shown_while_paused, re.M), output
        assert re.search(r"^\s+web2\s+2\s+queued\b", shown_while_paused, re.M), output

        tree = run_tree(example, env, "java_ecs#1")
        assert tree["run"]["status"] == "succeeded"

        # stage test: the scan and the unit tests, both succeeded, in parallel
        assert task(tree, "test", "scan")["record"]["status"] == "succeeded"
        assert task(tree, "test", "unit")["record"]["status"] == "succeeded"
        scan = step(tree, "test", "scan", "p3c")
        assert scan["type"] == "java_code_scan"
        assert outputs_text(scan).get("blocker") == "0", scan

        # the unit step's totals: 13 tests, one of them skipped (@Disabled), none failed
        unit = step(tree, "test", "unit", "junit")
        assert unit["type"] == "maven_unit_test"
        assert {"tests": "13", "failures": "0", "errors": "0",
                "skipped": "1"}.items() <= outputs_text(unit).items(), unit
        text = summary_text(unit)
        assert re.search(r"\b13\b", text) and "skipped" in text.lower(), unit["summary"]

        # stage build: package.tgz holds the jar and deploy.sh, as the archive step put them
        artifacts = {a["name"]: Path(a["path"]) for a in tree["artifacts"]}
        package = artifacts["package"]
        assert package == example / ".flowplan" / "artifacts" / "java_ecs" / "1" / "package.tgz"
        with tarfile.open(package) as archive:
            assert sorted(archive.getnames()) == ["deploy.sh", "target/greeter-1.0.jar"]
            assert archive.getmember("deploy.sh").mode & 0o111

        # the deploys: web1 and web2 over SSH, the instances through Cloud Assistant
        assert step(tree, "deploy", "daily", "hosts")["status"] == "succeeded"
        assert step(tree, "production", "ecs", "instances")["status"] == "succeeded"

        # the services outlived the flowplan processes that started them, and answer here
        for offset, name in enumerate(["web1", "web2", *INSTANCES]):
            assert get(port + offset, "/health") == (200, "ok\n"), name
            assert get(port + offset, f"/?name={name}") == (200, f"Hello, {name}!\n")
        assert "Hello, web1!" in completed.stdout and "Hello, i-greeter2!" in completed.stdout
    finally:
        stopped = subprocess.run(["./run.sh", "stop"], cwd=example, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for offset in range(4):
        assert port_is_closed(port + offset)
    assert users and not any(user_exists(user) for user in users)
    assert not (example / ".flowplan" / "sshd").exists()
    assert not (example / "sshd.auto.fpvars").exists()
    assert not (example / ".flowplan" / "ecs" / "emulator.pid").exists()
    assert port_is_free(int(env["FP_VAR_ecs_port"]))


@needs_java
@needs_root_and_sshd
@pytest.mark.timeout(TIMEOUT + 60)
def test_a_failing_unit_test_fails_the_unit_task_and_names_the_test(tmp_path, ssh_fleet):
    example = copy_example(tmp_path)
    make_greeter_repository(example)
    port = free_ports(4)
    hosts = ssh_fleet.start(2)
    try:
        with ecs_emulator(tmp_path / "ecs") as ecs:
            env = walkthrough_env(port, FP_VAR_fail_a_test="true",
                                  **machine_variables(example, hosts, ecs))
            applied = flowplan(example, env, "apply", "--auto-approve")
            assert applied.returncode == 0, applied.stdout + applied.stderr
            assert re.search(r"variables\s+= \{ GREETER_FAIL_TEST = true \}", applied.stdout), \
                applied.stdout

            ran = flowplan(example, env, "run", "java_ecs", "--branch", "master")
            assert ran.returncode == 1, ran.stdout + ran.stderr
            assert "java_ecs#1 failed" in ran.stdout + ran.stderr

            tree = run_tree(example, env, "java_ecs#1")
            shown = flowplan(example, env, "runs", "show", "java_ecs#1")
    finally:
        for host in hosts:
            host.stop()
    assert task(tree, "test", "scan")["record"]["status"] == "succeeded"
    assert task(tree, "test", "unit")["record"]["status"] == "failed"
    unit = step(tree, "test", "unit", "junit")
    assert unit["status"] == "failed"
    assert FAILING_TEST in summary_text(unit), unit["summary"]
    assert FAILING_TEST in shown.stdout, shown.stdout

    # nothing was built, packaged or deployed
    assert task(tree, "build", "package")["record"]["status"] == "skipped"
    assert task(tree, "deploy", "daily")["record"]["status"] == "skipped"
    assert task(tree, "production", "ecs")["record"]["status"] == "skipped"
    assert all(a["name"] != "package" for a in tree["artifacts"]), tree["artifacts"]
    assert not any((h.home / DOWNLOAD_PATH).exists() for h in hosts)
    for offset in range(4):
        assert port_is_closed(port + offset)


def test_the_walkthrough_scripts_are_valid_bash():
    scripts = [EXAMPLE / "run.sh", EXAMPLE / "app" / "deploy.sh"]
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    if shutil.which("shellcheck"):
        linted = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True,
                                text=True)
        assert linted.returncode == 0, linted.stdout
