"""Fixtures for the build step types' tests (helpers are in steps_support.py): the executor
tests' `config_dir` and `service`, a StepContext for step-type code called directly, one real
offline Maven build shared by the session, and the `run_as` user."""

from __future__ import annotations

import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from steps_support import MAVEN_HCL, MAVEN_PROJECT, STEP_USER, FakeLog, executor_conftest, run_hcl

config_dir = executor_conftest.config_dir          # fixture
service = executor_conftest.service                # fixture


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



@pytest.fixture(scope="session")
def maven_run(tmp_path_factory):
    """One real offline Maven build of projects/calculator, shared by the tests that read it:
    `maven_unit_test` (one test passes, one fails, one is skipped; its task may fail), then
    `java_build` and an `archive` of the jar and deploy.sh. The service, run `calculator#1`."""
    directory = tmp_path_factory.mktemp("maven-run")
    made = run_hcl(directory, MAVEN_HCL.replace("PROJECT", str(MAVEN_PROJECT)), "calculator")
    yield made
    made.store.close()


@pytest.fixture(scope="session")
def step_account():
    """The system user `flowplan-step` steps run as with `run_as` (made once, as the executor's
    run_as tests make it); the tests that need it need root."""
    import os
    import pwd
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("run_as tests need root: they create the system user flowplan-step")
    try:
        return pwd.getpwnam(STEP_USER)
    except KeyError:
        pass
    made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", STEP_USER],
                          capture_output=True, text=True)
    if made.returncode not in (0, 9):        # 9: made meanwhile by another session
        pytest.fail(f"useradd {STEP_USER}: {made.stderr}")
    return pwd.getpwnam(STEP_USER)


@pytest.fixture
def open_dir():
    """A config directory whose parents the step user may pass through (pytest's tmp_path is
    under a 0700 directory)."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="flowplan-steps-run-as-"))
    directory.chmod(0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
