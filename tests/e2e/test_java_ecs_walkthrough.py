"""The java-ecs walkthrough end to end, for real: a copy of examples/java-ecs (without the
.flowplan/ or target/ a previous run left in the source tree) with mvn, java and curl from this
machine and the offline ~/.m2 (`maven_flags` keeps its default, -o).

The first test runs the example's own run.sh, as its README says, with the service left running
(GREETER_KEEP_RUNNING=1) on a free port: the scan and unit tasks succeed, the unit step's summary
has the totals, package.tgz holds the jar and deploy.sh, the run waits before the manual deploy
stage until run.sh continues it, and the service then answers /health here until the test stops
it. The second applies with fail_a_test=true: the unit task fails and its summary names the test
that failed; nothing is built or deployed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cli_workspace import REPO, flowplan_command

EXAMPLE = REPO / "examples" / "java-ecs"
FAILING_TEST = "failsOnlyWhenGreeterFailTestIsTrue"
MISSING = [tool for tool in ("mvn", "java") if shutil.which(tool) is None]

# Maven and the JVM start several times: on a loaded 2-core machine that takes minutes.
TIMEOUT = 840
needs_java = pytest.mark.skipif(bool(MISSING), reason=f"the java-ecs walkthrough builds with "
                                                      f"Maven and runs Java; missing: "
                                                      f"{', '.join(MISSING)}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def walkthrough_env(port: int, **extra: str) -> dict[str, str]:
    """This environment without flowplan settings, with the `flowplan` in use first on PATH and
    the service's port set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FP_VAR_", "FLOWPLAN_", "GREETER_"))}
    flowplan = shutil.which("flowplan")
    assert flowplan, "the walkthrough needs the flowplan command on PATH (pip install -e .)"
    env["PATH"] = os.pathsep.join([str(Path(flowplan).parent), env.get("PATH", "")])
    env["NO_COLOR"] = "1"
    env["FP_VAR_port"] = str(port)
    env.update(extra)
    return env


def copy_example(tmp_path: Path) -> Path:
    example = tmp_path / "java-ecs"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".flowplan", "target"))
    return example


def flowplan(example: Path, env: dict[str, str], *args: str,
             timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([*flowplan_command(), "-C", str(example), *args], env=env,
                               capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


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


def make_greeter_repository(example: Path) -> None:
    """What run.sh does first: app/ committed on master in .flowplan/greeter.git."""
    work = example / ".flowplan" / "greeter-work"
    shutil.copytree(example / "app", work)
    identity = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    for args in (["init", "-q", "-b", "master"], ["add", "."],
                 [*identity, "commit", "-q", "-m", "The greeter service"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work),
                    str(example / ".flowplan" / "greeter.git")], check=True, capture_output=True)
    shutil.rmtree(work)


def get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def stop_greeter(example: Path, port: int) -> None:
    """deploy.sh stop, as run.sh would; then make sure nothing is left behind."""
    install = example / ".flowplan" / "greeter"
    pid_file = install / "greeter.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip() or 0)
    script = install / "current" / "deploy.sh"
    if script.exists():
        subprocess.run([str(script), "stop"], capture_output=True, timeout=60,
                       env={**os.environ, "GREETER_PID_FILE": str(pid_file),
                            "GREETER_PORT": str(port)})
    if pid and Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)


@needs_java
@pytest.mark.timeout(TIMEOUT + 60)
def test_run_sh_scans_tests_packages_and_deploys_after_the_manual_stage(tmp_path):
    example = copy_example(tmp_path)
    port = free_port()
    env = walkthrough_env(port, GREETER_KEEP_RUNNING="1")
    try:
        completed = subprocess.run(["./run.sh"], cwd=example, env=env, capture_output=True,
                                   text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, output
        assert "Traceback" not in output

        # the first drive stopped before the manual deploy stage (run.sh checks exit code 4)
        assert "==> java_ecs#1 is waiting for a person:" in output, output
        assert re.search(r"^    deploy: stage deploy starts when someone continues it", output,
                         re.M), output
        shown_while_waiting = output.split("==> flowplan runs show java_ecs#1", 1)[1]
        assert re.search(r"^· deploy  queued  \(manual\)$", shown_while_waiting, re.M), output
        assert re.search(r"^==> java_ecs#1 succeeded", output, re.M), output

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
        assert re.search(r"^    ✓ junit  maven_unit_test  succeeded .*\n        \S",
                         shown_while_waiting, re.M), shown_while_waiting

        # stage build: package.tgz holds the jar and deploy.sh, as the archive step put them
        artifacts = {a["name"]: Path(a["path"]) for a in tree["artifacts"]}
        package = artifacts["package"]
        assert package == example / ".flowplan" / "artifacts" / "java_ecs" / "1" / "package.tgz"
        with tarfile.open(package) as archive:
            assert sorted(archive.getnames()) == ["deploy.sh", "target/greeter-1.0.jar"]
            assert archive.getmember("deploy.sh").mode & 0o111

        # stage deploy ran after run.sh continued the run: unpacked, started, checked
        install = step(tree, "deploy", "local", "install")
        assert install["status"] == "succeeded"
        assert step(tree, "deploy", "local", "check")["status"] == "succeeded"
        release = example / ".flowplan" / "greeter" / "releases" / "1"
        assert (release / "target" / "greeter-1.0.jar").is_file()
        assert "deploy.sh: greeter is up (pid " in output

        # the service outlived the flowplan process that started it, and answers here
        assert get(port, "/health") == (200, "ok\n")
        assert get(port, "/?name=e2e") == (200, "Hello, e2e!\n")
        assert "Hello, walkthrough!" in completed.stdout
    finally:
        stop_greeter(example, port)
    assert port_is_closed(port)
    assert not (example / ".flowplan" / "greeter" / "greeter.pid").exists()


@needs_java
@pytest.mark.timeout(TIMEOUT + 60)
def test_a_failing_unit_test_fails_the_unit_task_and_names_the_test(tmp_path):
    example = copy_example(tmp_path)
    make_greeter_repository(example)
    port = free_port()
    env = walkthrough_env(port, FP_VAR_fail_a_test="true")

    applied = flowplan(example, env, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"variables\s+= \{ GREETER_FAIL_TEST = true \}", applied.stdout), \
        applied.stdout

    ran = flowplan(example, env, "run", "java_ecs", "--branch", "master")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "java_ecs#1 failed" in ran.stdout + ran.stderr

    tree = run_tree(example, env, "java_ecs#1")
    assert task(tree, "test", "scan")["record"]["status"] == "succeeded"
    assert task(tree, "test", "unit")["record"]["status"] == "failed"
    unit = step(tree, "test", "unit", "junit")
    assert unit["status"] == "failed"
    assert FAILING_TEST in summary_text(unit), unit["summary"]
    shown = flowplan(example, env, "runs", "show", "java_ecs#1")
    assert FAILING_TEST in shown.stdout, shown.stdout

    # nothing was built, packaged or deployed
    assert task(tree, "build", "package")["record"]["status"] == "skipped"
    assert task(tree, "deploy", "local")["record"]["status"] == "skipped"
    assert all(a["name"] != "package" for a in tree["artifacts"]), tree["artifacts"]
    assert port_is_closed(port)


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
