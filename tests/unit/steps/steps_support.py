"""Helpers for the build step types' tests (imported by name: every test directory has a
`conftest` module, so `from conftest import ...` would find whichever was loaded last): the
executor tests' run service, store and HCL helpers (tests/unit/executor/conftest.py, loaded under
a name of its own), the projects under projects/ (a Maven project whose build has a passing, a
failing and a skipped test; a Node.js package without dependencies), report fixtures, and
programs on a PATH of their own."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path

_EXECUTOR_CONFTEST = Path(__file__).resolve().parents[1] / "executor" / "conftest.py"
_spec = importlib.util.spec_from_file_location("executor_conftest_for_steps", _EXECUTOR_CONFTEST)
executor_conftest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = executor_conftest
_spec.loader.exec_module(executor_conftest)

make_service = executor_conftest.make_service
load_pipeline = executor_conftest.load_pipeline
steps_of = executor_conftest.steps_of
tasks_of = executor_conftest.tasks_of
log_text = executor_conftest.log_text

PROJECTS = Path(__file__).resolve().parent / "projects"
MAVEN_PROJECT = PROJECTS / "calculator"
NODE_PROJECT = PROJECTS / "webapp"


# A failsafe 3.x report of an integration-test class: one passing, one failing, one erring test.
FAILSAFE_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-failsafe-plugin/xsd/failsafe-test-report-3.0.xsd" version="3.0" name="demo.CheckoutIT" time="2.51" tests="3" errors="1" skipped="0" failures="1">
  <properties>
    <property name="java.version" value="17.0.15"/>
  </properties>
  <testcase name="storesAnOrder" classname="demo.CheckoutIT" time="1.204"/>
  <testcase name="refusesAnEmptyCart" classname="demo.CheckoutIT" time="0.301">
    <failure message="expected: &lt;400&gt; but was: &lt;200&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <400> but was: <200>
\tat org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)
\tat demo.CheckoutIT.refusesAnEmptyCart(CheckoutIT.java:41)
]]></failure>
    <system-out><![CDATA[POST /orders -> 200
]]></system-out>
  </testcase>
  <testcase name="talksToTheDatabase" classname="demo.CheckoutIT" time="1.005">
    <error message="Connection refused" type="java.net.ConnectException"><![CDATA[java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.connect0(Native Method)
]]></error>
  </testcase>
</testsuite>
"""


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def run_hcl(config_dir: Path, hcl: str, pipeline: str = "app", *, variables=None,
            branch: str | None = None, **settings):
    """Start pipeline `pipeline` of inline HCL with a service of its own; the service."""
    made = make_service(config_dir, **settings)
    definition, values, sensitive = load_pipeline(config_dir, textwrap.dedent(hcl), pipeline,
                                                  variables)
    made.start(pipeline, definition, variables=values, sensitive=sensitive, branch=branch)
    return made


def program_dir(tmp_path: Path, *names: str) -> Path:
    """A directory holding only links to the named programs: a PATH without the others."""
    directory = tmp_path / "only-bin"
    directory.mkdir(exist_ok=True)
    for name in names:
        found = shutil.which(name)
        assert found, f"{name} is needed by the tests"
        (directory / name).symlink_to(found)
    return directory


def fake_jdk(root: Path, programs: tuple[str, ...] = ("java", "javac")) -> Path:
    """A JAVA_HOME whose bin holds shell scripts standing for the named programs."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    for program in programs:
        script = root / "bin" / program
        script.write_text(f"#!/bin/sh\necho fake {program}\n")
        script.chmod(0o755)
    return root


class FakeLog:
    """A step log that keeps what the step says."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str, at: float, stream: str = "system") -> None:
        self.said.append(text)

    def feed(self, stream: str, data: bytes, at: float) -> None:
        self.said.append(data.decode("utf-8", "replace"))

    def end(self, at: float) -> None:
        pass


MAVEN_HCL = """
pipeline "calculator" {
  stage "test" {
    task "unit" {
      allow_failure = true
      step "checkout" {
        type = "command"
        run  = "cp -r PROJECT/. ."
      }
      step "test" {
        type    = "maven_unit_test"
        command = "mvn -o -B test"
      }
    }
  }
  stage "package" {
    task "build" {
      step "checkout" {
        type = "command"
        run  = "cp -r PROJECT/. ."
      }
      step "jar" {
        type    = "java_build"
        command = "mvn -o -B package -DskipTests"
      }
      step "package" {
        type  = "archive"
        name  = "package"
        paths = ["target/*.jar", "deploy.sh"]
      }
    }
  }
}
"""


def task_workspace(made, ref: str, stage: str, task: str) -> Path:
    run = made.get(ref)
    return made.settings.workspace_dir / run.pipeline / str(run.number) / stage / task


STEP_USER = "flowplan-step"          # the run_as user of tests/unit/executor/test_run_as.py
