"""Test results from JUnit XML reports: surefire's and failsafe's `TEST-*.xml`, the JUnit file of
Node.js's built-in test runner (suites nested in suites, cases straight under `<testsuites>`),
and what other reporters write in the same format.

`TestReport` adds up the report files given to it: tests, failures, errors, skipped, the time the
cases took, the failed cases (name, message, the head of the stack trace) and the slowest cases;
it renders them as a step summary, log lines and a step error
(`2 of 14 tests failed: demo.FooTest.bar, ...`). A case is named `classname.name`; node's
reporter gives every case the classname `test`, so its cases are named by their suites instead
(`group > case`). Times are the cases' own (a suite's time would count its nested suites twice).

Reports are written by the build, so they are untrusted: a file is parsed by defusedxml with DTDs
forbidden, so a report with a `<!DOCTYPE>` (entity bombs, external entities reading local files)
is refused before any entity is expanded or fetched; the cases are then read with junitparser.
A file that is not valid XML, is not a JUnit report, or is too large counts as one test in error
(named after the file), so a broken report fails the step rather than hiding tests. There are
caps on the size of a file, on the number of files and on the bytes read in all.
`add_workspace_report` reads one from the workspace through flowplan.steps.reports (no path out
of it, no link swapped in); which files to read, and keeping them, is the step types'
(flowplan.steps.maven, flowplan.steps.nodejs).
"""

from __future__ import annotations

import heapq
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeElementTree
from junitparser import Error as JUnitError
from junitparser import Failure as JUnitFailure
from junitparser import Skipped as JUnitSkipped
from junitparser import TestCase as JUnitCase

from flowplan.executor.errors import PathEscape
from flowplan.executor.step_type import StepContext
from flowplan.steps.reports import ReportTooLarge, read_workspace_file, size_text

MAX_FILE_BYTES = 32 * 1024 * 1024       # one report file; a larger one is not parsed
MAX_FILES = 5000                        # report files read for one step
MAX_TOTAL_BYTES = 256 * 1024 * 1024     # bytes of report files read for one step
FAILURES_KEPT = 50                      # failed cases kept with their message and trace
FAILURES_SHOWN = 10                     # of them, shown in the summary's and the log's lines
NAMES_IN_ERROR = 5                      # failed cases named in the step's error
TRACE_LINES = 10                        # lines of a stack trace kept
SLOWEST = 5                             # slowest cases kept
LINE_CHARACTERS = 300                   # a message or trace line is cut there
NODE_CLASSNAME = "test"                 # what node's reporter gives every case as classname


@dataclass(frozen=True)
class FailedCase:
    name: str                           # classname.name, or suites > name
    kind: str                           # "failure" or "error"
    message: str
    trace: tuple[str, ...]              # the first TRACE_LINES lines of the stack trace
    report: str                         # the file it was read from

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "message": self.message,
                "trace": list(self.trace), "report": self.report}


@dataclass
class TestReport:
    """The sum of the report files added so far (see the module text)."""

    __test__ = False                    # not a pytest test class

    files: int = 0
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float = 0.0
    bytes_read: int = 0
    left_out: int = 0                   # files not read because a cap was reached
    failed: list[FailedCase] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)    # "file: why", FAILURES_KEPT at most
    _slowest: list[tuple[float, int, str]] = field(default_factory=list)

    # -- adding files -------------------------------------------------------------------------

    def has_room(self, size: int = 0) -> bool:
        """Whether one more file of `size` bytes may be read (MAX_FILES, MAX_TOTAL_BYTES)."""
        return self.files < MAX_FILES and self.bytes_read + size <= MAX_TOTAL_BYTES

    def add_file(self, name: str, data: bytes) -> None:
        """Add the cases of report `name` (its bytes `data`); a file that cannot be parsed is
        added as unreadable."""
        self.files += 1
        self.bytes_read += len(data)
        if len(data) > MAX_FILE_BYTES:
            self._add_unreadable(name, f"larger than {size_text(MAX_FILE_BYTES)}: not read")
            return
        try:
            root = SafeElementTree.fromstring(data, forbid_dtd=True)
        except defusedxml.DTDForbidden:
            self._add_unreadable(name, "it has a <!DOCTYPE>, which a JUnit report never needs: "
                                       "refused unread (entities could expand without end or "
                                       "read local files)")
            return
        except (defusedxml.DefusedXmlException, ElementTree.ParseError, ValueError) as exc:
            self._add_unreadable(name, f"not valid XML: {_line(str(exc))}")
            return
        if root.tag not in ("testsuites", "testsuite"):
            self._add_unreadable(name, f"not a JUnit report: its root element is "
                                       f"<{_line(str(root.tag))[:60]}>, not <testsuite> or "
                                       "<testsuites>")
            return
        for element, suites in _cases(root):
            self._add_case(element, suites, name)

    def add_unreadable(self, name: str, why: str) -> None:
        """A report file that could not be read at all (too large, refused path): one test in
        error, like a file that is not valid XML."""
        self.files += 1
        self._add_unreadable(name, why)

    def _add_unreadable(self, name: str, why: str) -> None:
        self.tests += 1
        self.errors += 1
        if len(self.unreadable) < FAILURES_KEPT:
            self.unreadable.append(f"{name}: {why}")
        self._keep_failed(FailedCase(name, "error", f"report not read: {why}", (), name))

    def _add_case(self, element: ElementTree.Element, suites: list[str], report: str) -> None:
        case = JUnitCase.fromelem(element)
        self.tests += 1
        name = case_name(case.classname, case.name, suites)
        seconds = _seconds(element.get("time"))
        self.duration += seconds
        results = case.result
        if seconds > 0 and not any(isinstance(r, JUnitSkipped) for r in results):
            entry = (seconds, -self.tests, name)
            if len(self._slowest) < SLOWEST:
                heapq.heappush(self._slowest, entry)
            else:
                heapq.heappushpop(self._slowest, entry)
        errors = [r for r in results if isinstance(r, JUnitError)]
        failures = [r for r in results if isinstance(r, JUnitFailure)]
        if errors or failures:
            kind = "error" if errors else "failure"
            if errors:
                self.errors += 1
            else:
                self.failures += 1
            result = (errors or failures)[0]
            self._keep_failed(FailedCase(name, kind, _message(result.message, result.text),
                                         _trace(result.text), report))
        elif any(isinstance(r, JUnitSkipped) for r in results):
            self.skipped += 1

    def _keep_failed(self, case: FailedCase) -> None:
        if len(self.failed) < FAILURES_KEPT:
            self.failed.append(case)

    # -- reading the sum ------------------------------------------------------------------------

    @property
    def failed_count(self) -> int:
        return self.failures + self.errors

    @property
    def slowest(self) -> list[tuple[str, float]]:
        return [(name, seconds) for seconds, _, name in sorted(self._slowest, reverse=True)]

    def totals(self) -> str:
        """`Tests: 12, failures: 1, errors: 0, skipped: 1 (3.2 s)`."""
        return (f"Tests: {self.tests}, failures: {self.failures}, errors: {self.errors}, "
                f"skipped: {self.skipped} ({_duration(self.duration)})")

    def lines(self) -> list[str]:
        """Each failed case (the first FAILURES_SHOWN) with its trace head, unread reports and
        files left out, and the slowest cases."""
        lines: list[str] = []
        for case in self.failed[:FAILURES_SHOWN]:
            label = "FAILED" if case.kind == "failure" else "ERROR"
            lines.append(f"{label} {case.name}: {case.message}" if case.message else
                         f"{label} {case.name}")
            lines.extend(f"    {line}" for line in case.trace)
        if self.failed_count > FAILURES_SHOWN:
            more = self.failed_count - FAILURES_SHOWN
            lines.append(f"... and {more} more failed test{'s' if more != 1 else ''}")
        if self.left_out:
            lines.append(f"{self.left_out} report file{'s' if self.left_out != 1 else ''} left "
                         f"out: at most {MAX_FILES} files and "
                         f"{size_text(MAX_TOTAL_BYTES)} are read")
        if self._slowest:
            lines.append("slowest: " + ", ".join(f"{name} ({_duration(seconds)})"
                                                 for name, seconds in self.slowest))
        return lines

    def failed_text(self) -> str:
        """`2 of 14 tests failed: demo.FooTest.bar, demo.FooTest.baz` (the first few names)."""
        names = [case.name for case in self.failed[:NAMES_IN_ERROR]]
        more = self.failed_count - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        return (f"{self.failed_count} of {self.tests} test{'s' if self.tests != 1 else ''} "
                f"failed: {listed}")

    def summary(self, notes: list[str] = ()) -> dict[str, Any]:
        """The step summary: the totals as title, `notes` then `lines()`, and the figures."""
        return {"title": self.totals(), "lines": [*notes, *self.lines()],
                "tests": self.tests, "failures": self.failures, "errors": self.errors,
                "skipped": self.skipped, "duration": round(self.duration, 3),
                "reports": self.files, "left_out": self.left_out,
                "failed": [case.as_data() for case in self.failed],
                "unreadable": list(self.unreadable),
                "slowest": [{"name": name, "time": round(seconds, 3)}
                            for name, seconds in self.slowest]}

    def outputs(self) -> dict[str, str]:
        """The figures as step outputs (strings)."""
        return {"tests": str(self.tests), "failures": str(self.failures),
                "errors": str(self.errors), "skipped": str(self.skipped)}


def add_workspace_report(report: TestReport, context: StepContext, relative: str) -> bytes | None:
    """Read the workspace file `relative` into `report`; its bytes, or None when it could not
    be read (counted as unreadable) or a cap is reached (counted as left out)."""
    if not report.has_room():
        report.left_out += 1
        return None
    try:
        data = read_workspace_file(context, relative, limit=MAX_FILE_BYTES)
    except ReportTooLarge:
        report.add_unreadable(relative, f"larger than {size_text(MAX_FILE_BYTES)}: not read")
        return None
    except PathEscape as exc:
        report.add_unreadable(relative, f"refused: {exc}")
        return None
    except OSError as exc:
        report.add_unreadable(relative, f"cannot be read: {exc.strerror or exc}")
        return None
    if not report.has_room(len(data)):
        report.left_out += 1
        return None
    report.add_file(relative, data)
    return data


def case_name(classname: str | None, name: str | None, suites: list[str]) -> str:
    """`classname.name`; `suite > suite > name` for node's cases (see the module text)."""
    name = _line(name or "") or "(unnamed)"
    classname = _line(classname or "")
    if classname and classname != NODE_CLASSNAME:
        return f"{classname}.{name}"
    return " > ".join([*suites, name])


def _cases(root: ElementTree.Element):
    """(testcase element, names of the suites around it), each suite's cases before its nested
    suites; iterative, so however deep a hostile file nests, no recursion limit is reached."""
    top = [_line(root.get("name") or "")[:100]] if root.tag == "testsuite" else []
    stack: list[tuple[ElementTree.Element, list[str]]] = [(root, [name for name in top if name])]
    while stack:
        element, suites = stack.pop()
        inner = []
        for child in element:
            if child.tag == "testcase":
                yield child, suites
            elif child.tag == "testsuite":
                name = _line(child.get("name") or "")[:100]
                inner.append((child, [*suites, name] if name else suites))
        stack.extend(reversed(inner))


def _seconds(text: str | None) -> float:
    try:
        seconds = float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _message(message: str | None, text: str | None) -> str:
    """The result's message, else the first line of its text, on one line and cut."""
    if message and message.strip():
        return _line(message)[:LINE_CHARACTERS]
    for line in (text or "").splitlines():
        if line.strip():
            return _line(line)[:LINE_CHARACTERS]
    return ""


def _trace(text: str | None) -> tuple[str, ...]:
    """The first TRACE_LINES lines of a stack trace that are not blank, each cut."""
    lines = (line.rstrip().replace("\t", "    ") for line in (text or "").splitlines())
    return tuple(islice((line[:LINE_CHARACTERS] for line in lines if line.strip()), TRACE_LINES))


def _line(text: str) -> str:
    return " ".join(text.split())


def _duration(seconds: float) -> str:
    """`3.2 s`, `45 ms`, `<1 ms`, `2 min 5 s`."""
    if seconds <= 0:
        return "0 s"
    if seconds < 1:
        milliseconds = round(seconds * 1000)
        return f"{milliseconds} ms" if milliseconds else "<1 ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"
