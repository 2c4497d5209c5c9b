"""The build-step examples end to end, each a copy of its directory (without any .flowplan/ a
previous run left in the source tree) run by its own run.sh with `flowplan` on PATH, as its
README says: examples/java-maven (maven_unit_test, java_build, archive of the jar and
deploy.sh; an offline Maven build) and examples/nodejs (nodejs_test, nodejs_build, archive)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile

from cli_workspace import REPO
from test_cli_runs_quickstart import quickstart_env


def run_example(name: str, tmp_path) -> tuple[str, object]:
    example = tmp_path / name
    shutil.copytree(REPO / "examples" / name, example,
                    ignore=shutil.ignore_patterns(".flowplan"))
    completed = subprocess.run(["./run.sh"], cwd=example, env=quickstart_env(),
                               capture_output=True, text=True, timeout=300,
                               stdin=subprocess.DEVNULL)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Traceback" not in output
    return completed.stdout, example


def test_the_maven_example_tests_builds_and_packages_the_jar_with_deploy_sh(tmp_path):
    stdout, example = run_example("java-maven", tmp_path)
    assert re.search(r"^==> greeter#1 succeeded", stdout, re.M), stdout
    assert re.search(r"^ +Tests: 2, failures: 0, errors: 0, skipped: 0 \(", stdout, re.M), stdout
    assert re.search(r"^ +target/greeter-1\.0\.0\.jar \([\d,]+ bytes\)$", stdout, re.M), stdout
    assert "artifact unit.test.junit.tgz: " in stdout
    package = example / ".flowplan" / "artifacts" / "greeter" / "1" / "package.tgz"
    with tarfile.open(package) as archive:
        assert sorted(archive.getnames()) == ["deploy.sh", "target/greeter-1.0.0.jar"]


def test_the_node_example_tests_builds_and_packages_dist(tmp_path):
    stdout, example = run_example("nodejs", tmp_path)
    assert re.search(r"^==> web#1 succeeded", stdout, re.M), stdout
    assert re.search(r"^ +Tests: 2, failures: 0, errors: 0, skipped: 0 \(", stdout, re.M), stdout
    assert "npm ci: package-lock.json found" in stdout
    with tarfile.open(example / ".flowplan" / "artifacts" / "web" / "1" / "web.tgz") as archive:
        assert sorted(archive.getnames()) == ["dist/greet.js", "package.json"]
