"""`maven_unit_test` and `java_build` in runs: a real offline Maven build of projects/calculator
(shared by the module: `maven_run`) and its real surefire report, then the paths a real build
takes without paying for Maven again (a command that writes reports stands for `mvn`): failsafe
reports of modules, a build failing before its tests, stale and hostile reports, missing tools,
timeouts and secrets. Each is checked where a person sees it: the store, `flowplan runs show`
and its JSON, the step's log and the kept artifacts."""

from __future__ import annotations

import os
import tarfile
import textwrap

from steps_support import (FAILSAFE_REPORT, config_dir, fake_jdk, log_text,  # noqa: F401
                           maven_run, program_dir, run_hcl, steps_of, task_workspace, tasks_of)

from flowplan.executor.status import Status
from flowplan.steps.junit import TestReport
from flowplan.views.run_text import render_run_tree, to_json

PASSING_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="demo.CoreTest" tests="2" failures="0" errors="0" skipped="0" time="0.2">
  <testcase name="parses" classname="demo.CoreTest" time="0.12"/>
  <testcase name="prints" classname="demo.CoreTest" time="0.08"/>
</testsuite>
"""

FAILSAFE_SUMMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<failsafe-summary xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" result="255" timeout="false">
    <completed>3</completed>
    <errors>1</errors>
    <failures>1</failures>
    <skipped>0</skipped>
</failsafe-summary>
"""


def one_step(step: str, *, before: str = "", task_attributes: str = "",
             variables: str = "") -> str:
    """A pipeline `app` with one task `t` whose step `s` is `step` (HCL attributes), after a
    command step `prepare` running `before` when given."""
    prepare = (f'step "prepare" {{\n  type = "command"\n  run  = "{before}"\n}}\n'
               if before else "")
    return (f'{variables}\npipeline "app" {{\n  stage "main" {{\n    task "t" {{\n'
            f"{task_attributes}\n{prepare}"
            f'step "s" {{\n{textwrap.dedent(step)}\n}}\n    }}\n  }}\n}}\n')


def tree_text(made, ref: str = "app#1") -> str:
    return render_run_tree(made.show(ref))


def tgz_names(path) -> list[str]:
    with tarfile.open(path) as archive:
        return sorted(archive.getnames())


def write_tree(root, files: dict[str, bytes]):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# -- a real Maven build ------------------------------------------------------------------------

def test_a_real_surefire_report_gives_totals_the_failure_and_its_trace(maven_run):
    reports_dir = task_workspace(maven_run, "calculator#1", "test", "unit") / \
        "target" / "surefire-reports"
    [name] = [p.name for p in reports_dir.iterdir() if p.name.startswith("TEST-")]
    assert name == "TEST-demo.CalculatorTest.xml"
    report = TestReport()
    report.add_file(name, (reports_dir / name).read_bytes())
    assert (report.tests, report.failures, report.errors, report.skipped) == (3, 1, 0, 1)
    [failed] = report.failed
    assert (failed.name, failed.kind, failed.report) == (
        "demo.CalculatorTest.addsWrongly", "failure", name)
    assert failed.message == "two and three ==> expected: <6> but was: <5>"
    assert failed.trace[0] == ("org.opentest4j.AssertionFailedError: two and three ==> "
                               "expected: <6> but was: <5>")
    assert "    at demo.CalculatorTest.addsWrongly(CalculatorTest.java:17)" in failed.trace
    assert len(failed.trace) <= 10
    assert report.failed_text() == "1 of 3 tests failed: demo.CalculatorTest.addsWrongly"
    assert report.totals().startswith("Tests: 3, failures: 1, errors: 0, skipped: 1 (")


def test_maven_unit_test_fails_on_a_failing_test_with_its_totals_in_the_store(maven_run):
    step = steps_of(maven_run, "calculator#1")[("unit", "test")]
    assert step.status == Status.FAILED.value and step.exit_code == 1
    assert step.error == "1 of 3 tests failed: demo.CalculatorTest.addsWrongly"
    assert step.outputs == {"tests": "3", "failures": "1", "errors": "0", "skipped": "1"}
    summary = step.summary
    assert summary["title"].startswith("Tests: 3, failures: 1, errors: 0, skipped: 1 (")
    assert summary["lines"][0] == ("FAILED demo.CalculatorTest.addsWrongly: two and three ==> "
                                   "expected: <6> but was: <5>")
    assert summary["failed"][0]["trace"][0].startswith("org.opentest4j.AssertionFailedError")
    assert summary["reports"] == 1 and summary["slowest"]


def test_runs_show_prints_the_test_summary_under_the_step_and_json_has_it_whole(maven_run):
    tree = maven_run.show("calculator#1")
    text = render_run_tree(tree)
    assert "Tests: 3, failures: 1, errors: 0, skipped: 1" in text
    assert ("  FAILED demo.CalculatorTest.addsWrongly: two and three ==> expected: <6> but was: "
            "<5>\n") in text
    assert "at demo.CalculatorTest.addsWrongly(CalculatorTest.java:17)" in text
    assert '"failed": [' in to_json(tree) and '"skipped": 1' in to_json(tree)


def test_the_surefire_reports_are_kept_as_one_artifact_of_the_run(maven_run):
    artifacts = {a.name: a for a in maven_run.show("calculator#1").artifacts}
    kept = artifacts["unit.test.junit.tgz"]
    assert tgz_names(kept.path) == ["target/surefire-reports/TEST-demo.CalculatorTest.xml"]
    with tarfile.open(kept.path) as archive:
        data = archive.extractfile("target/surefire-reports/TEST-demo.CalculatorTest.xml").read()
    assert b'<testcase name="addsWrongly" classname="demo.CalculatorTest"' in data


def test_the_step_log_says_which_tools_ran_and_the_totals(maven_run):
    lines = log_text(maven_run, "calculator#1", task="unit", step="test")
    assert lines[0].startswith("java ") and " mvn " in lines[0]
    assert any("Tests run: 3, Failures: 1, Errors: 0, Skipped: 1" in line for line in lines)
    assert [line for line in lines if line.startswith("Tests: 3, failures: 1")]


def test_allow_failure_lets_the_run_go_on_to_build_and_archive_the_jar(maven_run):
    tasks = tasks_of(maven_run, "calculator#1")
    assert tasks["unit"].status == Status.FAILED.value
    assert tasks["build"].status == Status.SUCCEEDED.value
    jar = steps_of(maven_run, "calculator#1")[("build", "jar")]
    assert jar.outputs == {"jars": "target/calculator-1.0.0.jar"}
    assert jar.summary["title"] == "built 1 jar"
    assert jar.summary["lines"][0].startswith("target/calculator-1.0.0.jar (")
    artifacts = {a.name: a for a in maven_run.show("calculator#1").artifacts}
    assert tgz_names(artifacts["package"].path) == ["deploy.sh", "target/calculator-1.0.0.jar"]


# -- paths without Maven -----------------------------------------------------------------------

def test_failsafe_reports_of_modules_are_read_and_its_summary_file_is_not(config_dir, tmp_path):
    fixture = write_tree(tmp_path / "project", {
        "pom.xml": b"<project/>", "service/pom.xml": b"<project/>",
        "core/pom.xml": b"<project/>",
        "service/target/failsafe-reports/TEST-demo.CheckoutIT.xml": FAILSAFE_REPORT,
        "service/target/failsafe-reports/failsafe-summary.xml": FAILSAFE_SUMMARY,
        "core/target/surefire-reports/TEST-demo.CoreTest.xml": PASSING_REPORT})
    made = run_hcl(config_dir, one_step(f"""
        type    = "maven_unit_test"
        command = "cp -r {fixture}/. ."
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.FAILED.value and step.exit_code == 0
    assert step.error == ("2 of 5 tests failed: demo.CheckoutIT.refusesAnEmptyCart, "
                          "demo.CheckoutIT.talksToTheDatabase")
    assert step.outputs == {"tests": "5", "failures": "1", "errors": "1", "skipped": "0"}
    [kept] = made.show("app#1").artifacts
    assert tgz_names(kept.path) == [
        "core/target/surefire-reports/TEST-demo.CoreTest.xml",
        "service/target/failsafe-reports/TEST-demo.CheckoutIT.xml"]


def test_a_build_failing_before_its_tests_says_no_reports_were_found(config_dir):
    made = run_hcl(config_dir, one_step("""
        type    = "maven_unit_test"
        command = "echo '[ERROR] COMPILATION ERROR' >&2; exit 1"
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.error == ("exit code 1; no test reports found in target/surefire-reports or "
                          "target/failsafe-reports")
    assert step.summary["title"] == ("no test reports found in target/surefire-reports or "
                                     "target/failsafe-reports")
    assert step.outputs == {"tests": "0", "failures": "0", "errors": "0", "skipped": "0"}
    assert made.show("app#1").artifacts == ()


def test_report_dir_and_working_dir_choose_where_reports_are_read(config_dir, tmp_path):
    fixture = write_tree(tmp_path / "project", {
        "api/build/results/TEST-demo.CoreTest.xml": PASSING_REPORT})
    made = run_hcl(config_dir, one_step(f"""
        type        = "maven_unit_test"
        command     = "cp -r {fixture}/. .."
        working_dir = "api"
        report_dir  = "build/results"
    """, before="mkdir api"))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value, step.error
    assert step.outputs == {"tests": "2", "failures": "0", "errors": "0", "skipped": "0"}
    assert step.summary["title"] == "Tests: 2, failures: 0, errors: 0, skipped: 0 (200 ms)"
    [kept] = made.show("app#1").artifacts
    assert tgz_names(kept.path) == ["api/build/results/TEST-demo.CoreTest.xml"]


def test_reports_older_than_the_step_are_left_out(config_dir, tmp_path):
    fixture = write_tree(tmp_path / "project", {
        "target/surefire-reports/TEST-demo.CoreTest.xml": PASSING_REPORT,
        "target/surefire-reports/TEST-demo.Removed.xml": FAILSAFE_REPORT})
    made = run_hcl(config_dir, one_step(f"""
        type    = "maven_unit_test"
        command = "cp -r {fixture}/. . && touch -d '-1 hour' target/surefire-reports/TEST-demo.Removed.xml"
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value, step.error
    assert step.summary["lines"] == ["1 report file older than this step left out",
                                     "slowest: demo.CoreTest.parses (120 ms), demo.CoreTest.prints "
                                     "(80 ms)"]


def test_a_report_dir_leading_out_of_the_workspace_fails_the_step_before_it_runs(config_dir):
    made = run_hcl(config_dir, """
        pipeline "app" {
          stage "main" {
            task "up" {
              step "s" {
                type       = "maven_unit_test"
                command    = "echo RAN"
                report_dir = "../../x"
              }
            }
            task "absolute" {
              step "s" {
                type       = "maven_unit_test"
                command    = "true"
                report_dir = "/etc"
              }
            }
          }
        }
    """)
    steps = steps_of(made, "app#1")
    assert steps[("up", "s")].error.startswith("report path '../../x' escapes ")
    assert steps[("absolute", "s")].error == \
        "report_dir '/etc' must be relative to the working directory"
    assert log_text(made, "app#1") == []


def test_hostile_reports_are_counted_as_errors_and_nothing_of_what_they_point_at_is_shown(
        config_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:SECRET-HASH:0:0")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<testsuite><testcase classname="X" name="x"><failure message="&x;"/></testcase>'
           "</testsuite>")
    fixture = write_tree(tmp_path / "project", {
        "target/surefire-reports/TEST-xxe.xml": xxe.encode(),
        "target/surefire-reports/TEST-broken.xml": b"<testsuite><testcase",
        "target/surefire-reports/TEST-demo.CoreTest.xml": PASSING_REPORT})
    os.symlink(secret, fixture / "target/surefire-reports/TEST-secret.xml")
    os.symlink("/etc/passwd", fixture / "target/surefire-reports/TEST-passwd.xml")
    made = run_hcl(config_dir, one_step(f"""
        type    = "maven_unit_test"
        command = "cp -a {fixture}/. ."
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.FAILED.value
    assert step.outputs == {"tests": "6", "failures": "0", "errors": "4", "skipped": "0"}
    unreadable = "\n".join(step.summary["unreadable"])
    assert "TEST-xxe.xml: it has a <!DOCTYPE>" in unreadable
    assert "TEST-broken.xml: not valid XML" in unreadable
    assert "target/surefire-reports/TEST-secret.xml: refused: report path " in unreadable
    assert "target/surefire-reports/TEST-passwd.xml: refused: report path " in unreadable
    everything = " ".join([tree_text(made), *log_text(made, "app#1"), step.error,
                           to_json(made.show("app#1"))])
    assert "SECRET-HASH" not in everything and "root:x:0:0" not in everything
    [kept] = made.show("app#1").artifacts
    assert tgz_names(kept.path) == ["target/surefire-reports/TEST-broken.xml",
                                    "target/surefire-reports/TEST-demo.CoreTest.xml",
                                    "target/surefire-reports/TEST-xxe.xml"]


def test_a_report_directory_linking_out_of_the_workspace_is_not_read(config_dir, tmp_path):
    outside = write_tree(tmp_path / "outside", {"TEST-demo.CoreTest.xml": PASSING_REPORT})
    made = run_hcl(config_dir, one_step(f"""
        type    = "maven_unit_test"
        command = "mkdir -p target && ln -s {outside} target/surefire-reports"
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.outputs["tests"] == "0"
    assert step.summary["lines"][1].startswith(
        "target/surefire-reports: report path 'target/surefire-reports' escapes ")


def test_a_sensitive_value_in_a_test_failure_is_masked_in_the_summary_and_log(config_dir):
    made = run_hcl(config_dir, one_step(
        """
        type    = "maven_unit_test"
        command = "mkdir -p target/surefire-reports && printf '<testsuite><testcase classname=\\"T\\" name=\\"t\\"><failure message=\\"login with %s refused\\"/></testcase></testsuite>' \\"$TOKEN\\" > target/surefire-reports/TEST-T.xml"
        env     = { TOKEN = var.token }
        """, variables='variable "token" {\n  sensitive = true\n}\n'),
        variables={"token": "hunter2-secret-token"})
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.error == "1 of 1 test failed: T.t"
    assert step.summary["lines"][0] == "FAILED T.t: login with *** refused"
    assert "FAILED T.t: login with *** refused" in log_text(made, "app#1")
    assert "hunter2-secret-token" not in tree_text(made) + to_json(made.show("app#1"))


def test_a_timed_out_test_run_still_reports_what_it_wrote(config_dir, tmp_path):
    fixture = write_tree(tmp_path / "project", {
        "target/surefire-reports/TEST-demo.CoreTest.xml": PASSING_REPORT})
    made = run_hcl(config_dir, one_step(f"""
        type    = "maven_unit_test"
        command = "cp -r {fixture}/. . && sleep 30"
        timeout = "1s"
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.FAILED.value
    assert step.error.startswith("timed out: the step's timeout of 1s ran out")
    assert step.outputs["tests"] == "2" and step.summary["title"].startswith("Tests: 2")


def test_a_jdk_not_declared_in_the_tools_settings_lists_the_declared_ones(config_dir, tmp_path):
    jdk = fake_jdk(tmp_path / "jdk17")
    made = run_hcl(config_dir, one_step("""
        type = "java_build"
        jdk  = "11"
    """), tools={"jdk": {"17": str(jdk), "21": str(jdk)}})
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.error == 'jdk "11" is not in the tools settings (declared: 17, 21)'
    assert log_text(made, "app#1") == []


def test_a_declared_jdk_and_maven_are_the_ones_the_command_runs(config_dir, tmp_path):
    jdk = fake_jdk(tmp_path / "jdk17")
    maven = tmp_path / "maven"
    (maven / "bin").mkdir(parents=True)
    (maven / "bin" / "mvn").write_text('#!/bin/sh\necho "mvn $* with JAVA_HOME=$JAVA_HOME"\n'
                                       "mkdir -p target && touch target/app.jar\n")
    (maven / "bin" / "mvn").chmod(0o755)
    made = run_hcl(config_dir, one_step("""
        type   = "java_build"
        jdk    = 17
        maven  = "3.9"
    """), tools={"jdk": {"17": str(jdk)}, "maven": {"3.9": str(maven)}})
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.status == Status.SUCCEEDED.value, step.error
    assert step.outputs == {"jars": "target/app.jar"}
    assert log_text(made, "app#1")[:2] == [
        f"java {jdk}/bin/java, javac {jdk}/bin/javac, mvn {maven}/bin/mvn",
        f"mvn -B package -DskipTests with JAVA_HOME={jdk}"]


def test_a_missing_mvn_is_an_error_naming_it_not_exit_code_127(config_dir, tmp_path):
    only_java = program_dir(tmp_path, "java", "javac")
    made = run_hcl(config_dir, one_step(f"""
        type = "maven_unit_test"
        env  = {{ PATH = "{only_java}", JAVA_HOME = "" }}
    """))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.exit_code is None
    assert step.error.startswith(f"mvn is not on the step's PATH ({only_java}): install Maven "
                                 "(Debian package maven), or declare one in the settings")


def test_a_missing_java_is_an_error_naming_it(config_dir, tmp_path):
    nothing = program_dir(tmp_path)
    made = run_hcl(config_dir, one_step(f"""
        type    = "java_build"
        command = "./mvnw -B package"
        env     = {{ PATH = "{nothing}", JAVA_HOME = "" }}
    """))
    assert steps_of(made, "app#1")[("t", "s")].error.startswith(
        f"java is not on the step's PATH ({nothing}): install a JDK (Debian package "
        "openjdk-17-jdk-headless)")


def test_java_build_in_a_module_lists_its_jars_relative_to_the_workspace(config_dir):
    made = run_hcl(config_dir, one_step("""
        type        = "java_build"
        command     = "mkdir -p target lib/target && touch target/service.jar lib/pom.xml lib/target/lib.jar target/notes.txt"
        working_dir = "service"
    """, before="mkdir service"))
    step = steps_of(made, "app#1")[("t", "s")]
    assert step.outputs == {"jars": "service/target/service.jar service/lib/target/lib.jar"}
    assert step.summary["title"] == "built 2 jars"


def test_java_build_without_jars_and_with_a_missing_working_dir(config_dir):
    made = run_hcl(config_dir, """
        pipeline "app" {
          stage "main" {
            task "nothing" {
              step "s" {
                type    = "java_build"
                command = "true"
              }
            }
            task "missing" {
              step "s" {
                type        = "java_build"
                working_dir = "nope"
              }
            }
          }
        }
    """)
    steps = steps_of(made, "app#1")
    assert steps[("nothing", "s")].status == Status.SUCCEEDED.value
    assert steps[("nothing", "s")].outputs == {"jars": ""}
    assert steps[("nothing", "s")].summary["title"] == "no jar in target/"
    assert steps[("missing", "s")].error == "working_dir 'nope' does not exist in the workspace"


def test_run_time_values_in_the_command_are_pasted_shell_quoted(config_dir):
    made = run_hcl(config_dir, one_step("""
        type    = "java_build"
        command = "echo building ${run.branch}"
    """), branch="main; echo injected")
    assert steps_of(made, "app#1")[("t", "s")].status == Status.SUCCEEDED.value
    assert "building main; echo injected" in log_text(made, "app#1")
