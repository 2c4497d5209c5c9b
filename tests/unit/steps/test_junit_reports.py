"""Reading JUnit XML reports: failsafe's and node's test runner's (fixtures in their exact
shapes; surefire's real ones are read in test_maven_steps.py), and hostile files: malformed XML,
entity bombs, external entities, deep nesting, oversized files, too many files, links and
special files in the workspace. None of them raises; each is counted and said."""

from __future__ import annotations

import os

import pytest

from steps_support import FAILSAFE_REPORT, step_context  # noqa: F401 - a fixture

from flowplan.executor.errors import PathEscape
from flowplan.steps import junit, reports
from flowplan.steps.junit import TestReport, add_workspace_report

# What node 20's built-in test runner writes with --test-reporter=junit: cases of the top level
# straight under <testsuites>, describe() blocks as nested suites, every classname "test".
NODE_REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites>
\t<testcase name="adds" time="0.001643" classname="test"/>
\t<testcase name="divides" time="0.000201" classname="test">
\t\t<skipped type="skipped" message="not yet"/>
\t</testcase>
\t<testsuite name="strings" time="0.002485" disabled="0" errors="0" tests="2" failures="1" skipped="0" hostname="vm">
\t\t<testcase name="concatenates" time="0.000512" classname="test"/>
\t\t<testsuite name="case" time="0.0019" tests="1" failures="1">
\t\t\t<testcase name="upper-cases wrongly" time="0.001585" classname="test" failure="Expected values to be strictly equal:a !== B">
\t\t\t\t<failure type="testCodeFailure" message="Expected values to be strictly equal:a !== B">
Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:

&apos;A&apos; !== &apos;B&apos;

    at TestContext.&lt;anonymous&gt; (/w/test/strings.test.js:9:12)
\t\t\t\t</failure>
\t\t\t</testcase>
\t\t</testsuite>
\t</testsuite>
\t<!-- tests 5 -->
</testsuites>
"""


def report_of(*files: tuple[str, bytes]) -> TestReport:
    report = TestReport()
    for name, data in files:
        report.add_file(name, data)
    return report


# -- real and fixture reports ------------------------------------------------------------------

def test_a_failsafe_report_counts_failures_and_errors_apart():
    report = report_of(("TEST-demo.CheckoutIT.xml", FAILSAFE_REPORT))
    assert (report.tests, report.failures, report.errors, report.skipped) == (3, 1, 1, 0)
    assert report.totals() == "Tests: 3, failures: 1, errors: 1, skipped: 0 (2.5 s)"
    assert [(c.name, c.kind, c.message) for c in report.failed] == [
        ("demo.CheckoutIT.refusesAnEmptyCart", "failure", "expected: <400> but was: <200>"),
        ("demo.CheckoutIT.talksToTheDatabase", "error", "Connection refused")]
    assert report.lines() == [
        "FAILED demo.CheckoutIT.refusesAnEmptyCart: expected: <400> but was: <200>",
        "    org.opentest4j.AssertionFailedError: expected: <400> but was: <200>",
        "        at org.junit.jupiter.api.AssertionFailureBuilder.build("
        "AssertionFailureBuilder.java:151)",
        "        at demo.CheckoutIT.refusesAnEmptyCart(CheckoutIT.java:41)",
        "ERROR demo.CheckoutIT.talksToTheDatabase: Connection refused",
        "    java.net.ConnectException: Connection refused",
        "        at java.base/sun.nio.ch.Net.connect0(Native Method)",
        "slowest: demo.CheckoutIT.storesAnOrder (1.2 s), demo.CheckoutIT.talksToTheDatabase "
        "(1.0 s), demo.CheckoutIT.refusesAnEmptyCart (301 ms)"]
    assert report.failed_text() == ("2 of 3 tests failed: demo.CheckoutIT.refusesAnEmptyCart, "
                                    "demo.CheckoutIT.talksToTheDatabase")


def test_node_cases_are_named_by_their_suites_and_nested_suites_are_counted_once():
    report = report_of(("node --test", NODE_REPORT))
    assert (report.tests, report.failures, report.errors, report.skipped) == (4, 1, 0, 1)
    [failed] = report.failed
    assert failed.name == "strings > case > upper-cases wrongly"
    assert failed.message == "Expected values to be strictly equal:a !== B"
    assert failed.trace == ("Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:",
                            "'A' !== 'B'",
                            "    at TestContext.<anonymous> (/w/test/strings.test.js:9:12)")
    assert report.duration == pytest.approx(0.001643 + 0.000201 + 0.000512 + 0.001585)


def test_the_summary_holds_the_figures_failures_and_slowest_cases():
    summary = report_of(("TEST-demo.CheckoutIT.xml", FAILSAFE_REPORT)).summary(["a note"])
    assert summary["title"] == "Tests: 3, failures: 1, errors: 1, skipped: 0 (2.5 s)"
    assert summary["lines"][0] == "a note"
    assert {k: summary[k] for k in ("tests", "failures", "errors", "skipped", "reports")} == \
        {"tests": 3, "failures": 1, "errors": 1, "skipped": 0, "reports": 1}
    assert summary["failed"][1] == {
        "name": "demo.CheckoutIT.talksToTheDatabase", "kind": "error",
        "message": "Connection refused", "report": "TEST-demo.CheckoutIT.xml",
        "trace": ["java.net.ConnectException: Connection refused",
                  "    at java.base/sun.nio.ch.Net.connect0(Native Method)"]}
    assert summary["slowest"][0] == {"name": "demo.CheckoutIT.storesAnOrder", "time": 1.204}


def test_many_failures_are_kept_up_to_a_cap_and_the_rest_counted():
    cases = "".join(f'<testcase classname="T" name="t{i}"><failure message="m{i}"/></testcase>'
                    for i in range(120))
    report = report_of(("TEST-T.xml", f"<testsuite>{cases}</testsuite>".encode()))
    assert report.failures == 120 and len(report.failed) == junit.FAILURES_KEPT
    assert report.lines()[junit.FAILURES_SHOWN] == "... and 110 more failed tests"
    assert report.failed_text() == "120 of 120 tests failed: T.t0, T.t1, T.t2, T.t3, T.t4 and " \
                                   "115 more"


# -- hostile reports ---------------------------------------------------------------------------

def test_a_malformed_report_is_an_error_named_after_its_file_not_a_crash():
    report = report_of(("TEST-ok.xml", FAILSAFE_REPORT),
                       ("TEST-broken.xml", b"<testsuite><testcase name='x'></testsuite>"))
    assert (report.tests, report.errors) == (4, 2)
    assert report.unreadable == ["TEST-broken.xml: not valid XML: mismatched tag: line 1, "
                                 "column 32"]
    assert report.failed[-1].name == "TEST-broken.xml"
    assert report.failed[-1].message.startswith("report not read: not valid XML")


def test_an_external_entity_is_refused_unread(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY leak SYSTEM "file://{secret}">]>'
           f'\n<testsuite><testcase name="x"><failure message="&leak;"/></testcase></testsuite>')
    report = report_of(("TEST-xxe.xml", xxe.encode()))
    assert report.errors == 1 and report.failures == 0
    assert "it has a <!DOCTYPE>" in report.unreadable[0]
    assert "TOP-SECRET-CONTENT" not in str(report.summary())


def test_an_entity_bomb_is_refused_before_expanding():
    entities = "".join(f'<!ENTITY e{i} "&e{i - 1};&e{i - 1};&e{i - 1};&e{i - 1};">'
                       for i in range(1, 30))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY e0 "lol">{entities}]>'
            '<testsuite><testcase name="&e29;"/></testsuite>')
    report = report_of(("TEST-bomb.xml", bomb.encode()))
    assert report.unreadable == ["TEST-bomb.xml: it has a <!DOCTYPE>, which a JUnit report never "
                                 "needs: refused unread (entities could expand without end or "
                                 "read local files)"]


def test_a_file_that_is_not_a_junit_report_is_said_to_be_so():
    report = report_of(("failsafe-summary.xml",
                        b'<failsafe-summary result="255"><completed>3</completed>'
                        b"</failsafe-summary>"))
    assert report.unreadable == ["failsafe-summary.xml: not a JUnit report: its root element is "
                                 "<failsafe-summary>, not <testsuite> or <testsuites>"]


def test_deep_nesting_and_nonsense_figures_do_not_break_reading():
    depth = 100_000
    nested = "<testsuite name='s'>" * depth + "<testcase name='deep' time='1'/>" + \
        "</testsuite>" * depth
    odd = ("<testsuite><testcase name='a' time='nan'/><testcase name='b' time='-3'/>"
           "<testcase name='c' time='1e999'/><testcase name='d' time='soon'/>"
           "<testcase name='e' time='1,234.5'/></testsuite>")
    report = report_of(("TEST-deep.xml", f"<testsuites>{nested}</testsuites>".encode()),
                       ("TEST-odd.xml", odd.encode()))
    assert report.tests == 6 and report.errors == 0
    assert report.duration == pytest.approx(1 + 1234.5)
    assert report.slowest[0] == ("e", 1234.5)
    assert report.slowest[1][0].endswith("s > s > deep")


def test_long_messages_and_trace_lines_are_cut():
    long = "x" * 5000
    data = (f'<testsuite><testcase name="t"><failure message="{long}">{long}\n'
            + "\n".join(f"at line {i}" for i in range(50)) + "</failure></testcase></testsuite>")
    [failed] = report_of(("TEST-long.xml", data.encode())).failed
    assert len(failed.message) == junit.LINE_CHARACTERS
    assert len(failed.trace) == junit.TRACE_LINES
    assert all(len(line) <= junit.LINE_CHARACTERS for line in failed.trace)


def test_an_oversized_report_is_not_parsed(monkeypatch):
    monkeypatch.setattr(junit, "MAX_FILE_BYTES", 100)
    report = report_of(("TEST-big.xml", b"<testsuite>" + b" " * 200 + b"</testsuite>"))
    assert report.unreadable == ["TEST-big.xml: larger than 100 bytes: not read"]
    assert report.errors == 1


# -- reading from the workspace ----------------------------------------------------------------

def test_reports_past_the_file_and_byte_caps_are_left_out_and_counted(step_context,
                                                                      monkeypatch):
    monkeypatch.setattr(junit, "MAX_FILES", 2)
    for i in range(4):
        (step_context.workspace / f"TEST-{i}.xml").write_text(
            f'<testsuite><testcase name="t{i}"/></testsuite>')
    report = TestReport()
    kept = [add_workspace_report(report, step_context, f"TEST-{i}.xml") for i in range(4)]
    assert [data is not None for data in kept] == [True, True, False, False]
    assert (report.tests, report.left_out) == (2, 2)
    assert "2 report files left out: at most 2 files" in report.lines()[0]
    monkeypatch.setattr(junit, "MAX_FILES", 100)
    monkeypatch.setattr(junit, "MAX_TOTAL_BYTES", 60)
    report = TestReport()
    for i in range(4):
        add_workspace_report(report, step_context, f"TEST-{i}.xml")
    assert (report.tests, report.left_out) == (1, 3)


def test_a_report_linking_out_of_the_workspace_is_refused_unread(step_context, tmp_path):
    outside = tmp_path / "outside.xml"
    outside.write_text('<testsuite><testcase name="OUTSIDE-SECRET"/></testsuite>')
    (step_context.workspace / "TEST-link.xml").symlink_to(outside)
    (step_context.workspace / "TEST-passwd.xml").symlink_to("/etc/passwd")
    report = TestReport()
    assert add_workspace_report(report, step_context, "TEST-link.xml") is None
    assert add_workspace_report(report, step_context, "TEST-passwd.xml") is None
    assert report.errors == 2 and "OUTSIDE-SECRET" not in str(report.summary())
    assert report.unreadable[0] == ("TEST-link.xml: refused: report path 'TEST-link.xml' "
                                    f"escapes {step_context.workspace}")


def test_a_report_that_is_a_fifo_or_a_directory_is_refused(step_context):
    os.mkfifo(step_context.workspace / "TEST-fifo.xml")
    (step_context.workspace / "TEST-dir.xml").mkdir()
    report = TestReport()
    add_workspace_report(report, step_context, "TEST-fifo.xml")
    add_workspace_report(report, step_context, "TEST-dir.xml")
    assert report.unreadable == [
        "TEST-fifo.xml: refused: report path 'TEST-fifo.xml' is not a regular file",
        "TEST-dir.xml: refused: report path 'TEST-dir.xml' is not a regular file"]


def test_a_link_swapped_in_after_the_check_is_not_followed(step_context, tmp_path):
    reports_dir = step_context.workspace / "reports"
    reports_dir.mkdir()
    (reports_dir / "TEST-a.xml").write_text("<testsuite/>")
    checked = reports.workspace_file(step_context, "reports/TEST-a.xml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "TEST-a.xml").write_text("<testsuite><testcase name='ELSEWHERE'/></testsuite>")
    reports_dir.rename(tmp_path / "moved")
    reports_dir.symlink_to(elsewhere)               # swapped between the check and the open
    with pytest.raises(PathEscape, match="changed while it was opened"):
        reports._open_resolved(checked, os.O_RDONLY)


def test_a_report_of_another_user_is_refused_with_run_as(step_context):
    from flowplan.executor.step_process.step_user import StepUser

    (step_context.workspace / "TEST-a.xml").write_text("<testsuite/>")
    step_context.user = StepUser(name="builder", uid=os.getuid() + 4242,
                                 gid=os.getgid(), home="/nonexistent")
    with pytest.raises(PathEscape, match="is not builder's file"):
        reports.read_workspace_file(step_context, "TEST-a.xml")


@pytest.mark.parametrize("seconds, shown", [
    ("0", "0 s"), ("0.0004", "<1 ms"), ("0.045", "45 ms"), ("3.24", "3.2 s"),
    ("125", "2 min 5 s")])
def test_durations_read_as_milliseconds_seconds_or_minutes(seconds, shown):
    report = report_of(("TEST-t.xml", f'<testsuite><testcase name="t" time="{seconds}"/>'
                                      f"</testsuite>".encode()))
    assert report.totals() == f"Tests: 1, failures: 0, errors: 0, skipped: 0 ({shown})"


def test_skipped_cases_are_not_among_the_slowest():
    report = report_of(("TEST-t.xml", b'<testsuite><testcase name="slow-skip" time="9">'
                                      b'<skipped/></testcase><testcase name="run" time="1"/>'
                                      b"</testsuite>"))
    assert report.slowest == [("run", 1.0)] and report.skipped == 1


def test_unreadable_reports_are_listed_up_to_a_cap_and_all_counted():
    report = report_of(*[(f"TEST-{i}.xml", b"<broken") for i in range(80)])
    assert report.errors == 80 and len(report.unreadable) == junit.FAILURES_KEPT
