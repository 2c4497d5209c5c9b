"""The Maven step types: `maven_unit_test` (a Maven command, then its surefire and failsafe
reports read into test totals) and `java_build` (a Maven command that packages; the jars it
left in `target/` as an output).

Both run their `command` (a script, rendered like a `command` step's `run`: run-time values in
it are pasted shell-quoted) with `bash -e -c` in `working_dir`, after selecting the JDK and Maven
the step asks for from the settings' `tools` (flowplan.steps.tools) and checking that `java`,
`javac` and, when the command calls it, `mvn` are there: a missing one fails the step naming it
(`./mvnw` needs no `mvn`).

`maven_unit_test` then reads the `TEST-*.xml` files of `report_dir`, by default of
`target/surefire-reports` and `target/failsafe-reports` of `working_dir` and of the modules below
it (directories with a `pom.xml`, up to MODULE_DEPTH levels down), through flowplan.steps.junit;
files older than the step are left out (a kept workspace's earlier run). The files read are kept
as ONE artifact, `<task>.<step>.junit.tgz`, rather than one artifact per file: surefire writes a
file per test class, and a project with hundreds of them would list hundreds of artifacts in
`flowplan runs show` and in the store. The step fails when the command fails or any test failed
or erred (`2 of 14 tests failed: demo.FooTest.bar, ...`); `allow_failure` on the task decides
whether the run goes on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Optional

from pydantic import field_validator

from flowplan.config.schema import Step, _check_duration
from flowplan.executor.errors import PathEscape
from flowplan.executor.status import Status
from flowplan.executor.step_type import ArtifactFile, StepContext, StepResult
from flowplan.steps import junit
from flowplan.steps.reports import ReportArchive, report_files, workspace_file
from flowplan.steps.running import Finished, run_in_step, script_argv, step_directory
from flowplan.steps.tools import ToolMissing, ToolVersion, select_tools

REPORT_DIRS = ("target/surefire-reports", "target/failsafe-reports")
REPORT_PATTERN = "TEST-*.xml"
MODULE_DEPTH = 3                 # how far below working_dir modules are looked for
MODULE_DIRS_SEEN = 2000          # directories looked at while looking for modules
SKIPPED_DIRS = {"target", "src", "node_modules"}
STALE_SLACK = 2.0                # seconds: a report older than the step start by more is stale
USES_MVN = re.compile(r"(?<![\w./-])mvn(?![\w.-])")


class MavenUnitTestStep(Step):
    """`type = "maven_unit_test"`: a Maven command, then its test reports."""

    command: str = "mvn -B test"
    working_dir: str = "."
    report_dir: Optional[str] = None
    jdk: ToolVersion = None
    maven: ToolVersion = None
    env: dict[str, str] = {}
    timeout: Optional[str] = None

    _duration = field_validator("timeout")(_check_duration)


class JavaBuildStep(Step):
    """`type = "java_build"`: a Maven command that builds; the jars it made as an output."""

    command: str = "mvn -B package -DskipTests"
    working_dir: str = "."
    jdk: ToolVersion = None
    maven: ToolVersion = None
    env: dict[str, str] = {}
    timeout: Optional[str] = None

    _duration = field_validator("timeout")(_check_duration)


class MavenUnitTestStepType:
    name = "maven_unit_test"
    config_model = MavenUnitTestStep
    script_attributes = ("command",)

    def run(self, context: StepContext) -> StepResult:
        config: MavenUnitTestStep = context.config
        started = time.time()
        if config.report_dir is not None:
            try:              # a report_dir leading out fails the step before the command runs
                directory = step_directory(context, config.working_dir)
                chosen_report_dir(context, _base(context, directory), config.report_dir)
            except PathEscape as exc:
                return StepResult(Status.FAILED, error=str(exc))
        ran = run_maven(context, config)
        if isinstance(ran, StepResult):
            return ran
        directory, finished = ran
        try:
            report, notes, kept = read_test_reports(context, directory, config.report_dir,
                                                    started)
        except PathEscape as exc:
            return finished.failure or StepResult(Status.FAILED, exit_code=finished.exit_code,
                                                  error=str(exc))
        for line in [report.totals(), *notes, *report.lines()]:
            context.log.say(line, time.time())
        summary = report.summary(notes)
        if not report.files:
            summary["title"] = notes[0]
        outputs = report.outputs()
        artifacts = (kept,) if kept is not None else ()
        if finished.failure is not None:
            return dataclasses.replace(finished.failure, outputs=outputs, artifacts=artifacts,
                                       summary=summary)
        if finished.exit_code != 0:
            error = (report.failed_text() if report.failed_count else
                     f"exit code {finished.exit_code}"
                     + (f"; {notes[0]}" if not report.files else ""))
            return StepResult(Status.FAILED, exit_code=finished.exit_code, error=error,
                              outputs=outputs, artifacts=artifacts, summary=summary)
        if report.failed_count:
            return StepResult(Status.FAILED, exit_code=0, error=report.failed_text(),
                              outputs=outputs, artifacts=artifacts, summary=summary)
        return StepResult(Status.SUCCEEDED, exit_code=0, outputs=outputs, artifacts=artifacts,
                          summary=summary)


class JavaBuildStepType:
    name = "java_build"
    config_model = JavaBuildStep
    script_attributes = ("command",)

    def run(self, context: StepContext) -> StepResult:
        config: JavaBuildStep = context.config
        ran = run_maven(context, config)
        if isinstance(ran, StepResult):
            return ran
        directory, finished = ran
        if finished.failure is not None:
            return finished.failure
        if finished.exit_code != 0:
            return StepResult(Status.FAILED, exit_code=finished.exit_code,
                              error=f"exit code {finished.exit_code}")
        jars = built_jars(context, directory)
        if jars:
            title = f"built {len(jars)} jar{'s' if len(jars) != 1 else ''}"
            lines = [f"{path} ({size:,} bytes)" for path, size in jars]
        else:
            title, lines = "no jar in target/", []
        context.log.say(title + (": " + ", ".join(path for path, _ in jars) if jars else ""),
                        time.time())
        return StepResult(Status.SUCCEEDED, exit_code=0,
                          outputs={"jars": " ".join(path for path, _ in jars)},
                          summary={"title": title, "lines": lines,
                                   "jars": [path for path, _ in jars]})


def run_maven(context: StepContext,
              config: MavenUnitTestStep | JavaBuildStep) -> tuple[Path, Finished] | StepResult:
    """Select the tools, check the programs, run the command in `working_dir`: the directory
    and how the command ended, or the StepResult of a step that could not start it."""
    try:
        directory = step_directory(context, config.working_dir)
        needs = ["java", "javac", *(["mvn"] if USES_MVN.search(config.command) else [])]
        tools = select_tools(context.tools, context.environment, needs, jdk=config.jdk,
                             maven=config.maven)
        argv = script_argv(context, config.command, "bash -e")
    except (PathEscape, ToolMissing, ValueError) as exc:
        return StepResult(Status.FAILED, error=str(exc))
    context.log.say(tools.describe(), time.time())
    finished = run_in_step(context, argv, timeout=config.timeout, cwd=directory,
                           env=tools.environment)
    if finished.result is None:
        return finished.failure
    return directory, finished


def read_test_reports(context: StepContext, directory: Path, report_dir: str | None,
                      started: float) -> tuple[junit.TestReport, list[str], ArtifactFile | None]:
    """The test report of the `TEST-*.xml` files in the report directories (see the module
    text), notes about what was not read, and the artifact keeping the files read. PathEscape
    when `report_dir` leads out of the workspace."""
    base = _base(context, directory)
    if report_dir is not None:
        candidates = [chosen_report_dir(context, base, report_dir)]
        wanted = report_dir
    else:
        candidates = [module / name for module in maven_modules(context, base)
                      for name in REPORT_DIRS]
        wanted = " or ".join(REPORT_DIRS)
    report = junit.TestReport()
    notes: list[str] = []
    stale = 0
    found_dir = False
    with ReportArchive(context, f"{context.task}.{context.step}.junit.tgz") as archive:
        for candidate in candidates:
            relative = _text(candidate)
            try:
                names, more = report_files(context, relative, REPORT_PATTERN)
            except FileNotFoundError:
                continue
            except PathEscape as exc:
                notes.append(f"{relative}: {exc}")
                continue
            found_dir = True
            report.left_out += more
            for name in names:
                path = f"{relative}/{name}" if relative != "." else name
                try:
                    if os.stat(workspace_file(context, path)).st_mtime < started - STALE_SLACK:
                        stale += 1
                        continue
                except (OSError, PathEscape):
                    pass                       # reading it says what is wrong
                data = junit.add_workspace_report(report, context, path)
                if data is not None:
                    archive.add(path, data)
    if not report.files:
        where = wanted if not found_dir else f"{wanted} (no {REPORT_PATTERN} of this run)"
        notes.insert(0, f"no test reports found in {where}")
    if stale:
        notes.append(f"{stale} report file{'s' if stale != 1 else ''} older than this step "
                     "left out")
    return report, notes, archive.artifact


def chosen_report_dir(context: StepContext, base: Path, report_dir: str) -> Path:
    """`report_dir` below the working directory `base` (relative to the workspace); PathEscape
    when it is absolute or leads out of the workspace."""
    if Path(report_dir).is_absolute() or report_dir.startswith("~"):
        raise PathEscape(f"report_dir {report_dir!r} must be relative to the working directory")
    workspace_file(context, base / report_dir)
    return base / report_dir


def maven_modules(context: StepContext, base: Path) -> list[Path]:
    """`base` and the directories below it holding a `pom.xml`, MODULE_DEPTH levels down at
    most, relative to the workspace; hidden directories, `target`, `src` and `node_modules`
    are not entered, nor are links."""
    root = Path(os.path.realpath(context.workspace)) / base
    modules = [base]
    seen = 0
    level = [Path()]
    for _ in range(MODULE_DEPTH):
        below = []
        for relative in level:
            try:
                entries = sorted(os.scandir(root / relative), key=lambda entry: entry.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > MODULE_DIRS_SEEN:
                    return modules
                if (entry.name.startswith(".") or entry.name in SKIPPED_DIRS
                        or not entry.is_dir(follow_symlinks=False)):
                    continue
                below.append(relative / entry.name)
                if os.path.isfile(os.path.join(entry.path, "pom.xml")):
                    modules.append(base / relative / entry.name)
        level = below
    return modules


def built_jars(context: StepContext, directory: Path) -> list[tuple[str, int]]:
    """The jars in `target/` of `directory` and its modules: (workspace-relative path, size)."""
    workspace = Path(os.path.realpath(context.workspace))
    jars = []
    for module in maven_modules(context, _base(context, directory)):
        target = workspace / module / "target"
        try:
            entries = sorted(os.scandir(target), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".jar") and entry.is_file(follow_symlinks=False):
                jars.append((_text(module / "target" / entry.name),
                             entry.stat(follow_symlinks=False).st_size))
    return jars


def _base(context: StepContext, directory: Path) -> Path:
    """The resolved directory `directory` relative to the (resolved) workspace."""
    return directory.relative_to(Path(os.path.realpath(context.workspace)))


def _text(path: Path) -> str:
    text = path.as_posix()
    return text[2:] if text.startswith("./") else text
