"""Helpers and fixtures for the build step types' tests, imported by name into the test modules.

This directory has no conftest.py on purpose: without packages, every test directory's conftest
is the module `conftest`, and tests elsewhere that import from it while they run (as
tests/unit/executor's do) would get whichever was loaded last. So the executor tests' run
service, store and HCL helpers are loaded from tests/unit/executor/conftest.py under a name of
their own, and the fixtures here (its `config_dir` and `service`, a StepContext for step-type
code called directly, one real offline Maven build, the `run_as` user) are imported by the
modules that use them. Also here: the projects under projects/ (a Maven project whose build has
a passing, a failing and a skipped test; a Node.js package without dependencies), report
fixtures, and programs on a PATH of their own."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

_EXECUTOR_CONFTEST = Path(__file__).resolve().parents[1] / "executor" / "conftest.py"
_spec = importlib.util.spec_from_file_location("executor_conftest_for_steps", _EXECUTOR_CONFTEST)
executor_conftest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = executor_conftest
_spec.loader.exec_module(executor_conftest)

make_service = executor_conftest.make_service
load_pipeline = executor_conftest.load_pipeline
config_dir = executor_conftest.config_dir          # fixture
service = executor_conftest.service                # fixture
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


from run_as_account import STEP_USER  # noqa: E402,F401 - re-exported for the step tests


@pytest.fixture
def step_context(tmp_path):
    """A StepContext on a workspace in tmp_path, for step-type code called directly."""
    from flowplan.executor.run.layout import RunLayout
    from flowplan.executor.settings import ExecutorSettings
    from flowplan.executor.step_type import RunInfo, StepContext

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    private = tmp_path / "private"
    private.mkdir()
    settings = ExecutorSettings.from_config(tmp_path, {})
    return StepContext(
        run=RunInfo(1, "app", 1, "manual", None, None, None, None), stage="s", task="t",
        step="x", attempt=1, step_run_id=1, config=None, attributes={}, workspace=workspace,
        environment={"PATH": "/usr/bin:/bin"}, output_file=private / "x.output",
        private_dir=private, deadline=None, timeout_text=None, cancel=threading.Event(),
        kill_grace=0.5, log=FakeLog(), layout=RunLayout(settings, "app", 1),
        first_started_at=datetime.now(timezone.utc))



@pytest.fixture(scope="module")
def maven_run(tmp_path_factory):
    """One real offline Maven build of projects/calculator, shared by the module's tests that
    read it: `maven_unit_test` (one test passes, one fails, one is skipped; its task may fail),
    then `java_build` and an `archive` of the jar and deploy.sh. The service, run
    `calculator#1`. Import it into one module only: each importing module builds again."""
    directory = tmp_path_factory.mktemp("maven-run")
    made = run_hcl(directory, MAVEN_HCL.replace("PROJECT", str(MAVEN_PROJECT)), "calculator")
    yield made
    made.store.close()


@pytest.fixture(scope="session")
def step_account():
    """The system user `flowplan-step` steps run as with `run_as` (tests/support/run_as_account)."""
    from run_as_account import step_account as account

    return account()


@pytest.fixture
def open_dir():
    """A config directory whose parents the step user may pass through (pytest's tmp_path is
    under a 0700 directory)."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="flowplan-steps-run-as-"))
    directory.chmod(0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
