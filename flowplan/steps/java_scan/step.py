"""The `java_code_scan` step type: its attributes, and what a scan makes of its findings.

A scan runs the built-in rules (rules.py) and the repository's own (custom.py, `custom_rules`)
over the Java files under `sub_folder` (scanner.py), all of them or, with `incremental`, those
changed since the commit of this step's last success in the pipeline (incremental.py). It logs
one line per finding (`path:line:col [severity] RuleId: message`) and the totals, keeps the SARIF
report as the artifact `<task>.<step>.sarif` (sarif.py), returns the counts as the outputs
`blocker`, `critical`, `major` and `total`, and a summary that `flowplan runs show` prints. It
fails when a finding is at or above `fail_on`. A problem with the repository's input (a path
leading out of the workspace, a broken rule file) fails the step with a message; a file it cannot
read or parse is a note in the log. Recording all that is the task runner's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath
from typing import Literal, Optional

from pydantic import field_validator

from flowplan.config.schema import Step
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.status import Status
from flowplan.executor.step_type import StepContext, StepResult
from flowplan.steps.java_scan import custom, incremental, scanner
from flowplan.steps.java_scan.rules import SEVERITIES, Finding, at_or_above
from flowplan.steps.java_scan.sarif import sarif_bytes
from flowplan.steps.reports import write_report

MAX_LOGGED_FINDINGS = 2000          # past this the log says how many more the SARIF report has
MAX_SUMMARY_LINES = 50
MAX_LOGGED_NOTES = 100


def _relative_path(value: Optional[str]) -> Optional[str]:
    if value is None:
        return value
    if "\0" in value:
        raise ValueError("must not hold a NUL byte")
    if value.startswith(("/", "~")) or PurePosixPath(value).is_absolute():
        raise ValueError(f"{value!r} must be a path relative to the workspace")
    if ".." in PurePosixPath(value).parts:
        raise ValueError(f"{value!r} must not climb out with ..")
    return value


def _relative_globs(values: list[str]) -> list[str]:
    for value in values:
        _relative_path(value)
    return values


class JavaCodeScanStep(Step):
    """`type = "java_code_scan"`: p3c-style static checks of the workspace's Java files."""

    sub_folder: str = ""
    exclude: list[str] = []
    incremental: bool = False
    custom_rules: Optional[str] = None
    fail_on: Literal["blocker", "critical", "major"] = "blocker"

    _paths = field_validator("sub_folder", "custom_rules")(_relative_path)
    _globs = field_validator("exclude")(_relative_globs)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def counts_of(findings: list[Finding]) -> dict[str, int]:
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        counts[finding.severity] += 1
    counts["total"] = len(findings)
    return counts


class JavaCodeScanStepType:
    name = "java_code_scan"
    config_model = JavaCodeScanStep
    script_attributes = ()

    def run(self, context: StepContext) -> StepResult:
        config: JavaCodeScanStep = context.config

        def say(line: str) -> None:
            context.log.say(line, time.time())

        try:
            root = inside(context.workspace, config.sub_folder or ".", "sub_folder")
        except PathEscape as exc:
            return StepResult(Status.FAILED, error=str(exc))
        if not root.is_dir():
            return StepResult(Status.FAILED, error=f"sub_folder {config.sub_folder!r} is not a "
                                                   "directory of the workspace")
        try:
            rules = custom.rule_set(context.workspace, config.custom_rules)
        except custom.RuleFileError as exc:
            for problem in exc.problems:
                say(f"custom_rules {exc.path}: {problem}")
            return StepResult(Status.FAILED, error=str(exc))
        say(f"java_code_scan: {plural(len(rules.rules), 'rule')}"
            + (f" ({len(rules.custom)} from {config.custom_rules})" if rules.custom else "")
            + (f", disabled: {', '.join(rules.disabled)}" if rules.disabled else "")
            + f"; fails on {config.fail_on} and above")

        excludes = scanner.Excludes.of(config.exclude)
        paths, notes = self._files(context, config, root, excludes, say)
        deadline = context.deadline

        def should_stop() -> str | None:
            if context.cancel.is_set():
                return "canceled"
            if deadline is not None and time.monotonic() > deadline:
                return f"timed out: {context.timeout_text} ran out"
            return None

        started = time.monotonic()
        result = scanner.scan(context.workspace, paths, rules.rules, should_stop)
        elapsed = time.monotonic() - started
        for note in [*notes, *result.notes][:MAX_LOGGED_NOTES]:
            say(f"note: {note}")
        if len(notes) + len(result.notes) > MAX_LOGGED_NOTES:
            say(f"note: ... and {len(notes) + len(result.notes) - MAX_LOGGED_NOTES} more notes")
        if result.stopped == "canceled":
            return StepResult(Status.CANCELED, error="canceled")
        if result.stopped is not None:
            return StepResult(Status.FAILED, error=result.stopped)

        findings = result.findings
        for finding in findings[:MAX_LOGGED_FINDINGS]:
            say(f"{finding.where()} [{finding.severity}] {finding.rule_id}: {finding.message}")
        report_name = f"{context.task}.{context.step}.sarif"
        if len(findings) > MAX_LOGGED_FINDINGS:
            say(f"... and {len(findings) - MAX_LOGGED_FINDINGS} more findings in {report_name}")
        counts = counts_of(findings)
        title = (f"{plural(counts['total'], 'finding')}: {counts['blocker']} blocker, "
                 f"{counts['critical']} critical, {counts['major']} major "
                 f"({plural(result.files, 'file')} scanned)")
        say(f"{title} in {elapsed:.1f}s")
        report = write_report(context, report_name, sarif_bytes(rules.rules, findings))
        lines = [f"{f.path}:{f.line} [{f.severity}] {f.rule_id}: {f.message}"
                 for f in findings[:MAX_SUMMARY_LINES]]
        if len(findings) > MAX_SUMMARY_LINES:
            lines.append(f"... and {len(findings) - MAX_SUMMARY_LINES} more")
        summary = {"title": title, "lines": lines, "counts": counts, "files": result.files,
                   "report": report_name}
        outputs = {key: str(value) for key, value in counts.items()}
        failing = sum(1 for f in findings if at_or_above(f.severity, config.fail_on))
        if failing:
            return StepResult(Status.FAILED, error=f"{plural(failing, 'finding')} at or above "
                                                   f"{config.fail_on}",
                              outputs=outputs, artifacts=(report,), summary=summary)
        return StepResult(Status.SUCCEEDED, outputs=outputs, artifacts=(report,), summary=summary)

    def _files(self, context: StepContext, config: JavaCodeScanStep, root: Path,
               excludes: scanner.Excludes, say) -> tuple[list[str], list[str]]:
        """The files to scan, and notes; with `incremental`, only the changed ones if known."""
        if config.incremental:
            previous = context.previous_success()
            if previous is None:
                say("incremental: no earlier successful scan in this pipeline; scanning all files")
            elif not previous.commit:
                say(f"incremental: run #{previous.number} recorded no commit; scanning all files")
            else:
                changes = incremental.changed_files(context.workspace, previous.commit)
                if isinstance(changes, str):
                    say(f"incremental: {changes}; scanning all files")
                else:
                    folder = os.path.relpath(root, os.path.realpath(context.workspace))
                    wanted = [p for p in incremental.under(changes.files, folder)
                              if p.endswith(".java") and not excludes.excluded(p)
                              and (Path(context.workspace) / p).exists()]
                    say(f"incremental: {plural(len(wanted), 'file')} changed since run "
                        f"#{previous.number} (commit {previous.commit[:7]})")
                    return wanted, []
        return scanner.java_files(context.workspace, root, excludes)
