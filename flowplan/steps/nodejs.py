"""The Node.js step types: `nodejs_build` and `nodejs_test`, an npm install then one script of
the package's `package.json` (`build`, `test`, or the one `script` names).

In `working_dir` (the package), after selecting the Node.js the step asks for from the settings'
`tools` (flowplan.steps.tools) and checking that `node` and `npm` are there, a step reads
`package.json` (a workspace file: no path or link out of the workspace, at most
MAX_PACKAGE_JSON_BYTES) and fails, listing the scripts there, when the script is not one of
them; then it installs (`install = "auto"`: `npm ci` when a `package-lock.json` or
`npm-shrinkwrap.json` is there, else `npm install`; `"ci"`, `"install"`, or `"none"`), with
`--no-audit --no-fund` so that npm asks the registry for nothing but packages, and runs
`npm run SCRIPT`. All are argument lists, no shell. npm goes to the network only for packages a
lock file or `package.json` names; `env = { npm_config_offline = "true" }` keeps it off.

`nodejs_test` reads a JUnit report into test totals (flowplan.steps.junit): the file `report`
names (relative to `working_dir`, written by a reporter the package configures; one older than
the step is left out), or else the one it makes node's built-in test runner write, by adding
`--test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit
--test-reporter-destination=FILE` to NODE_OPTIONS (node 20 takes them there; a runner other
than `node --test` ignores them). FILE is in the task's scratch directory, which is flowplan's:
with `run_as` the file is made beforehand for the step's user, who cannot swap it for a link.
The report is kept as the artifact `<task>.<step>.junit.xml`. The step fails when the script
fails or a test failed; without a report, the exit code alone decides and the summary says so.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal, Optional

from pydantic import field_validator

from flowplan.config.schema import Step, _check_duration
from flowplan.executor.errors import PathEscape
from flowplan.executor.status import Status
from flowplan.executor.step_process import step_user
from flowplan.executor.step_type import StepContext, StepResult
from flowplan.steps import junit
from flowplan.steps.reports import (ReportTooLarge, read_workspace_file, size_text,
                                    workspace_file, write_report)
from flowplan.steps.running import run_in_step, step_directory
from flowplan.steps.tools import ToolMissing, ToolSetup, ToolVersion, select_tools

MAX_PACKAGE_JSON_BYTES = 1024 * 1024
LOCK_FILES = ("package-lock.json", "npm-shrinkwrap.json")
NPM_QUIET = ("--no-audit", "--no-fund")
# Set for npm unless the step's environment sets them: no update check, no progress bars.
NPM_ENVIRONMENT = {"npm_config_update_notifier": "false", "npm_config_progress": "false"}
SCRIPTS_LISTED = 20
STALE_SLACK = 2.0


def _check_script(value: str) -> str:
    if not value or value.startswith("-") or any(c in value for c in "\0\n"):
        raise ValueError(f"{value!r} is not a script name")
    return value


class NodejsStep(Step):
    """What `nodejs_build` and `nodejs_test` share."""

    node: ToolVersion = None
    script: str = "build"
    working_dir: str = "."
    install: Literal["auto", "ci", "install", "none"] = "auto"
    env: dict[str, str] = {}
    timeout: Optional[str] = None

    _duration = field_validator("timeout")(_check_duration)
    _script = field_validator("script")(_check_script)


class NodejsBuildStep(NodejsStep):
    """`type = "nodejs_build"`: npm install, then the `build` script."""


class NodejsTestStep(NodejsStep):
    """`type = "nodejs_test"`: npm install, then the `test` script and its JUnit report."""

    script: str = "test"
    report: Optional[str] = None


class NodejsBuildStepType:
    name = "nodejs_build"
    config_model = NodejsBuildStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        began = time.monotonic()
        prepared = prepare(context, context.config, began)
        if isinstance(prepared, StepResult):
            return prepared
        directory, environment, _ = prepared
        finished = run_in_step(context, ["npm", "run", context.config.script],
                               timeout=context.config.timeout, cwd=directory, env=environment,
                               since=began)
        if finished.failure is not None:
            return finished.failure
        if finished.exit_code != 0:
            return StepResult(Status.FAILED, exit_code=finished.exit_code,
                              error=f"npm run {context.config.script}: exit code "
                                    f"{finished.exit_code}")
        return StepResult(Status.SUCCEEDED, exit_code=0)


class NodejsTestStepType:
    name = "nodejs_test"
    config_model = NodejsTestStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: NodejsTestStep = context.config
        began = time.monotonic()
        prepared = prepare(context, config, began)
        if isinstance(prepared, StepResult):
            return prepared
        directory, environment, scripts = prepared
        base = directory.relative_to(Path(os.path.realpath(context.workspace)))
        own_report = None
        own_reporters = config.report is None and "--test-reporter" in scripts[config.script]
        if config.report is None and not own_reporters:
            own_report = context.private_dir / f"{context.step}.junit.xml"
            if context.user is None:
                own_report.unlink(missing_ok=True)
            else:
                step_user.output_file(own_report, context.user)
            environment["NODE_OPTIONS"] = _with_reporters(
                context.environment.get("NODE_OPTIONS", ""), own_report)
        started = time.time()
        finished = run_in_step(context, ["npm", "run", config.script], timeout=config.timeout,
                               cwd=directory, env=environment, since=began)
        if finished.result is None:
            return finished.failure
        report = junit.TestReport()
        notes: list[str] = []
        data = None
        if own_reporters:
            notes.append(f"no JUnit report: the {config.script} script chooses its own test "
                         "reporters (--test-reporter); set report to the JUnit file one of "
                         "them writes")
        elif own_report is not None:
            data = _read_own_report(report, own_report)
            if data is None:
                notes.append(f"no JUnit report: `npm run {config.script}` did not run node's "
                             "test runner (node --test); set report to the JUnit file your "
                             "test reporter writes")
        else:
            data = _read_named_report(context, report, base, config.report, started, notes)
        artifacts = ()
        if data is not None:
            artifacts = (write_report(context, f"{context.task}.{context.step}.junit.xml",
                                      data),)
        for line in ([report.totals()] if report.files else []) + notes + report.lines():
            context.log.say(line, time.time())
        summary = report.summary(notes)
        outputs = report.outputs()
        if not report.files:
            summary["title"] = notes[0] if notes else "no JUnit report"
            outputs = {}
        result = dict(outputs=outputs, artifacts=artifacts, summary=summary)
        if finished.failure is not None:
            failure = finished.failure
            return StepResult(failure.status, failure.exit_code, failure.error, **result)
        if finished.exit_code != 0:
            error = (report.failed_text() if report.failed_count else
                     f"npm run {config.script}: exit code {finished.exit_code}")
            return StepResult(Status.FAILED, exit_code=finished.exit_code, error=error,
                              **result)
        if report.failed_count:
            return StepResult(Status.FAILED, exit_code=0, error=report.failed_text(), **result)
        return StepResult(Status.SUCCEEDED, exit_code=0, **result)


def prepare(context: StepContext, config: NodejsStep,
            began: float) -> tuple[Path, dict[str, str], dict[str, str]] | StepResult:
    """Tools, working directory, the script's presence and the install: the directory, the
    environment additions for the script and package.json's scripts, or the StepResult of a
    step that stops here. The step's `timeout` counts from `began` (time.monotonic())."""
    try:
        directory = step_directory(context, config.working_dir)
        tools: ToolSetup = select_tools(context.tools, context.environment, ["node", "npm"],
                                        node=config.node)
        base = directory.relative_to(Path(os.path.realpath(context.workspace)))
        scripts = package_scripts(context, base)
    except (PathEscape, ToolMissing, PackageProblem) as exc:
        return StepResult(Status.FAILED, error=str(exc))
    if config.script not in scripts:
        listed = ", ".join(_printable(name[:40]) for name in sorted(scripts)[:SCRIPTS_LISTED])
        more = len(scripts) - SCRIPTS_LISTED
        listed += f" and {more} more" if more > 0 else ""
        where = _text(base / "package.json")
        return StepResult(Status.FAILED, error=(
            f'{where} has no "{config.script}" script (its scripts: {listed})' if scripts else
            f'{where} has no "{config.script}" script (it has no scripts)'))
    context.log.say(tools.describe(), time.time())
    environment = {**{name: value for name, value in NPM_ENVIRONMENT.items()
                      if name not in context.environment}, **tools.environment}
    install = config.install
    if install == "auto":
        locked = [name for name in LOCK_FILES if os.path.isfile(directory / name)]
        install = "ci" if locked else "install"
        context.log.say(f"npm {install}: " + (f"{locked[0]} found" if locked else
                                               "no package-lock.json"), time.time())
    if install != "none":
        finished = run_in_step(context, ["npm", install, *NPM_QUIET], timeout=config.timeout,
                               cwd=directory, env=environment, since=began)
        if finished.failure is not None:
            return finished.failure
        if finished.exit_code != 0:
            return StepResult(Status.FAILED, exit_code=finished.exit_code,
                              error=f"npm {install}: exit code {finished.exit_code}")
    return directory, environment, scripts


class PackageProblem(Exception):
    """package.json is missing, too large, or not what npm reads."""


def package_scripts(context: StepContext, base: Path) -> dict[str, str]:
    """The `scripts` of `base/package.json` in the workspace; PackageProblem saying what is
    wrong with it, PathEscape when it leads out of the workspace."""
    where = _text(base / "package.json")
    try:
        data = read_workspace_file(context, where, limit=MAX_PACKAGE_JSON_BYTES, what="file")
    except FileNotFoundError:
        raise PackageProblem(f"no package.json in {_text(base) or '.'}") from None
    except ReportTooLarge:
        raise PackageProblem(f"{where} is larger than "
                             f"{size_text(MAX_PACKAGE_JSON_BYTES)}") from None
    except OSError as exc:
        raise PackageProblem(f"{where} cannot be read: {exc.strerror or exc}") from None
    try:
        package = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise PackageProblem(f"{where} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(package, dict):
        raise PackageProblem(f"{where} is not a JSON object")
    scripts = package.get("scripts") or {}
    if not isinstance(scripts, dict):
        raise PackageProblem(f'{where}: "scripts" is not an object')
    return {str(name): value for name, value in scripts.items() if isinstance(value, str)}


def _with_reporters(node_options: str, destination: Path) -> str:
    """NODE_OPTIONS with node's test runner writing the spec reporter to stdout and JUnit to
    `destination` (double-quoted, as node reads NODE_OPTIONS)."""
    quoted = '"' + str(destination).replace("\\", "\\\\").replace('"', '\\"') + '"'
    added = ("--test-reporter=spec --test-reporter-destination=stdout "
             f"--test-reporter=junit --test-reporter-destination={quoted}")
    return f"{node_options} {added}".strip()


def _read_own_report(report: junit.TestReport, path: Path) -> bytes | None:
    """The JUnit file node wrote in the scratch directory (flowplan's: no link can be swapped
    in there); None when node wrote none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        report.add_unreadable(path.name, f"cannot be read: {exc.strerror}")
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(junit.MAX_FILE_BYTES + 1)
    if not data.strip():
        return None
    if len(data) > junit.MAX_FILE_BYTES:
        report.add_unreadable(path.name, f"larger than {size_text(junit.MAX_FILE_BYTES)}: not read")
        return None
    report.add_file("node --test", data)
    return data


def _read_named_report(context: StepContext, report: junit.TestReport, base: Path, name: str,
                       started: float, notes: list[str]) -> bytes | None:
    """The file `report` names, relative to the working directory, read into `report`."""
    if Path(name).is_absolute() or name.startswith("~"):
        report.add_unreadable(name, "refused: report must be relative to the working directory")
        return None
    relative = _text(base / name)
    try:
        modified = os.stat(workspace_file(context, relative)).st_mtime
    except PathEscape as exc:
        report.add_unreadable(name, f"refused: {exc}")
        return None
    except FileNotFoundError:
        notes.append(f"no JUnit report: {relative} was not written")
        return None
    except OSError as exc:
        report.add_unreadable(name, f"cannot be read: {exc.strerror}")
        return None
    if modified < started - STALE_SLACK:
        notes.append(f"no JUnit report: {relative} is older than this step (left out)")
        return None
    return junit.add_workspace_report(report, context, relative)


def _printable(text: str) -> str:
    """`text` with control characters (a terminal escape in a hostile package.json) as `?`."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _text(path: Path) -> str:
    text = path.as_posix()
    return "" if text == "." else text[2:] if text.startswith("./") else text
